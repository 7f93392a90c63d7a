#!/usr/bin/env python3
"""A boto3 activity worker against `stepwise serve`, the way it would run against AWS.

    stepwise serve --port 8083 &
    python3 scripts/serve-boto3.py http://127.0.0.1:8083

Deploys workflows/video-ingest.asl.json and its activity, uploads a video with boto3's S3
client (multipart, path-style), starts an execution with the S3 event as input, takes the
review task with GetActivityTask, reads the object the task names, approves it, waits for
SUCCEEDED and checks the copy the workflow made. Exits non-zero with the reason on any
mismatch; prints "serve-boto3: OK" at the end. Any credentials do (the server checks none).
"""

import hashlib
import io
import json
import os
import sys
import time

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ACTIVITY = "stepwise-video-review"  # the activity video-ingest.asl.json names
RAW, APPROVED = "stepwise-raw", "stepwise-approved"


def check(ok, what):
    if not ok:
        sys.exit(f"serve-boto3: FAILED: {what}")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: serve-boto3.py http://127.0.0.1:PORT")
    url = sys.argv[1]
    # GetActivityTask holds a request up to 60 s, as on AWS: read longer than that.
    config = Config(read_timeout=70, retries={"max_attempts": 1}, s3={"addressing_style": "path"})
    sfn = boto3.client("stepfunctions", endpoint_url=url, region_name="us-east-1", config=config)
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", config=config)

    for bucket in (RAW, APPROVED):
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError:
            s3.create_bucket(Bucket=bucket)
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    check(RAW in names and APPROVED in names, f"list_buckets shows both buckets: {names}")

    # 11 MiB in 5 MiB parts: boto3 uploads it in three parts.
    video = hashlib.sha256(b"stepwise").digest() * (11 * 1024 * 1024 // 32)
    key = f"incoming/clip-{int(time.time() * 1000)}.mp4"
    transfer = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    s3.upload_fileobj(io.BytesIO(video), RAW, key, ExtraArgs={"ContentType": "video/mp4"}, Config=transfer)
    head = s3.head_object(Bucket=RAW, Key=key)
    check(head["ContentLength"] == len(video), f"uploaded size {head['ContentLength']}")
    parts = [video[i : i + 5 * 1024 * 1024] for i in range(0, len(video), 5 * 1024 * 1024)]
    want_etag = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + f"-{len(parts)}"
    check(head["ETag"].strip('"') == want_etag, f"multipart ETag {head['ETag']} is S3's {want_etag}")
    s3.put_object(Bucket=RAW, Key="notes/readme.txt", Body=b"small object")
    listed = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=RAW, PaginationConfig={"PageSize": 1}) for o in page.get("Contents", [])]
    check(key in listed and "notes/readme.txt" in listed, f"list_objects_v2 pages: {listed}")

    activity_arn = sfn.create_activity(name=ACTIVITY)["activityArn"]
    with open(os.path.join(REPO, "workflows", "video-ingest.asl.json")) as f:
        definition = f.read()
    check(sfn.validate_state_machine_definition(definition=definition)["result"] == "OK", "the definition validates")
    machine_arn = sfn.create_state_machine(
        name="video-ingest", definition=definition, roleArn="arn:aws:iam::123456789012:role/stepwise"
    )["stateMachineArn"]
    event = {"detail": {"bucket": {"name": RAW}, "object": {"key": key, "size": len(video)}}}
    execution_arn = sfn.start_execution(stateMachineArn=machine_arn, input=json.dumps(event))["executionArn"]

    task = sfn.get_activity_task(activityArn=activity_arn, workerName="boto3-reviewer")
    check("taskToken" in task, f"a task within the long poll: {task}")
    task_input = json.loads(task["input"])
    body = s3.get_object(Bucket=task_input["bucket"], Key=task_input["key"])["Body"].read()
    check(body == video, "the worker reads the video the task names")
    ranged = s3.get_object(Bucket=task_input["bucket"], Key=task_input["key"], Range="bytes=100-199")["Body"].read()
    check(ranged == video[100:200], "a ranged read")
    sfn.send_task_heartbeat(taskToken=task["taskToken"])
    sfn.send_task_success(taskToken=task["taskToken"], output=json.dumps({"verdict": "APPROVED", "md5": hashlib.md5(body).hexdigest()}))

    deadline = time.time() + 30
    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING" or time.time() > deadline:
            break
        time.sleep(0.1)
    check(described["status"] == "SUCCEEDED", f"the execution succeeded: {described}")
    copied = s3.get_object(Bucket=APPROVED, Key=key)["Body"].read()
    check(copied == video, "the workflow copied the video to the approved bucket")

    events = [e for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn, PaginationConfig={"PageSize": 3}) for e in page["events"]]
    check([e["id"] for e in events] == list(range(1, len(events) + 1)), "history pages hold every event once")
    check(events[-1]["type"] == "ExecutionSucceeded", f"the last event: {events[-1]['type']}")
    check(hasattr(events[0]["timestamp"], "year"), "timestamps parse as datetimes")

    try:
        sfn.describe_execution(executionArn=execution_arn + "-missing")
        check(False, "a missing execution is an error")
    except sfn.exceptions.ExecutionDoesNotExist:
        pass
    print("serve-boto3: OK")


if __name__ == "__main__":
    main()
