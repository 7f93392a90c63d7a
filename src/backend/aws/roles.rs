//! The execution roles a deploy can pick from: the account's IAM roles whose trust policy
//! lets Step Functions assume them. Typing an ARN stays possible (a person may lack
//! `iam:ListRoles`, and `stepwise serve` has no IAM).

use serde::Serialize;

use super::{AwsClients, AwsError, error::classify};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleChoice {
    pub name: String,
    pub arn: String,
}

/// Whether a role's trust policy (as IAM returns it: URL-encoded JSON) names the Step
/// Functions service as a principal.
pub fn trusts_step_functions(policy_document: &str) -> bool {
    let decoded = percent_encoding::percent_decode_str(policy_document).decode_utf8_lossy();
    let Ok(policy) = serde_json::from_str::<serde_json::Value>(&decoded) else { return false };
    let statements = match &policy["Statement"] {
        serde_json::Value::Array(s) => s.clone(),
        one => vec![one.clone()],
    };
    statements.iter().any(|s| {
        let allows = s["Effect"] == "Allow";
        let service = &s["Principal"]["Service"];
        let names = |v: &serde_json::Value| v.as_str().is_some_and(|n| n.starts_with("states.") && n.ends_with(".amazonaws.com"));
        allows && (names(service) || service.as_array().is_some_and(|a| a.iter().any(names)))
    })
}

/// Every role Step Functions may assume, by name, all pages.
pub async fn execution_roles(clients: &AwsClients) -> Result<Vec<RoleChoice>, AwsError> {
    let mut pages = clients.iam.list_roles().into_paginator().send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify("iam:ListRoles", &clients.place(), clients.target.profile.as_deref(), e))?;
        for role in page.roles() {
            if role.assume_role_policy_document().is_some_and(trusts_step_functions) {
                out.push(RoleChoice { name: role.role_name().to_owned(), arn: role.arn().to_owned() });
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_roles_that_trust_step_functions_are_offered() {
        let encode = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
        let states = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"states.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        let regional = r#"{"Statement":{"Effect":"Allow","Principal":{"Service":["lambda.amazonaws.com","states.eu-west-1.amazonaws.com"]},"Action":"sts:AssumeRole"}}"#;
        let lambda = r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        let denied = r#"{"Statement":[{"Effect":"Deny","Principal":{"Service":"states.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        assert!(trusts_step_functions(&encode(states)));
        assert!(trusts_step_functions(&encode(regional)));
        assert!(trusts_step_functions(states), "already decoded is read too");
        assert!(!trusts_step_functions(&encode(lambda)));
        assert!(!trusts_step_functions(&encode(denied)));
        assert!(!trusts_step_functions("%7Bnot json"));
    }
}
