//! The connection flags shared by the commands that can talk to AWS (`deploy`, `ingest`,
//! `worker`): `--local` (the default) or any of `--profile`, `--region`, `--endpoint-url`.

use clap::Args;

use crate::backend::aws::{AwsTarget, Connection};

#[derive(Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionArgs {
    /// Use the embedded local engine (the default when no AWS flag is given).
    #[arg(long, conflicts_with_all = ["profile", "region", "endpoint_url"])]
    pub local: bool,
    /// Use AWS with this named profile (~/.aws/config).
    #[arg(long, value_name = "P")]
    pub profile: Option<String>,
    /// Use AWS in this region (default: the profile's or AWS_REGION).
    #[arg(long, value_name = "R")]
    pub region: Option<String>,
    /// Use an AWS-compatible endpoint, such as LocalStack (http://127.0.0.1:4566) or `stepwise serve`.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
}

impl ConnectionArgs {
    /// Local unless an AWS flag was given.
    pub fn connection(&self) -> Connection {
        if self.profile.is_none() && self.region.is_none() && self.endpoint_url.is_none() {
            return Connection::Local;
        }
        Connection::Aws(AwsTarget { profile: self.profile.clone(), region: self.region.clone(), endpoint_url: self.endpoint_url.clone() })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser, Debug)]
    struct T {
        #[command(flatten)]
        c: ConnectionArgs,
    }

    fn parse(args: &[&str]) -> Result<Connection, clap::Error> {
        let mut all = vec!["t"];
        all.extend_from_slice(args);
        T::try_parse_from(all).map(|t| t.c.connection())
    }

    #[test]
    fn local_is_the_default_and_any_aws_flag_selects_aws() {
        assert_eq!(parse(&[]).unwrap(), Connection::Local);
        assert_eq!(parse(&["--local"]).unwrap(), Connection::Local);
        assert_eq!(
            parse(&["--region", "eu-west-1"]).unwrap(),
            Connection::Aws(AwsTarget { profile: None, region: Some("eu-west-1".into()), endpoint_url: None })
        );
        assert_eq!(
            parse(&["--profile", "dev", "--endpoint-url", "http://127.0.0.1:4566"]).unwrap(),
            Connection::Aws(AwsTarget { profile: Some("dev".into()), region: None, endpoint_url: Some("http://127.0.0.1:4566".into()) })
        );
    }

    #[test]
    fn local_with_an_aws_flag_is_a_usage_error() {
        for flag in [["--profile", "dev"], ["--region", "eu-west-1"], ["--endpoint-url", "http://x"]] {
            let mut args = vec!["--local"];
            args.extend_from_slice(&flag);
            let e = parse(&args).unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict, "{flag:?}");
            assert!(e.use_stderr());
        }
    }
}
