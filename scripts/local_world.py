#!/usr/bin/env python3
"""Small boto3 helpers for the local demo: bucket, table (from template.yaml), upload, show record.

Talks to the local peers exactly as to AWS; only the endpoints differ.
"""
import argparse
import json
import sys
import urllib.parse

import boto3
import yaml


class _CfnLoader(yaml.SafeLoader):
    """Reads template.yaml, keeping CloudFormation's short-form tags (!Ref, !Sub...) as plain values."""


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def table_definition(template_path):
    with open(template_path) as f:
        template = yaml.load(f, Loader=_CfnLoader)
    props = template["Resources"]["VideosTable"]["Properties"]
    definition = {k: props[k] for k in ("AttributeDefinitions", "KeySchema", "BillingMode")}
    if "GlobalSecondaryIndexes" in props:
        definition["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    return definition


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--s3", required=True)
    p.add_argument("--dynamodb", required=True)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("create")
    c.add_argument("--bucket", required=True)
    c.add_argument("--table", required=True)
    c.add_argument("--template", default="template.yaml")
    u = sub.add_parser("upload", help="upload a file and print the S3 notification for it")
    u.add_argument("--bucket", required=True)
    u.add_argument("--key", required=True)
    u.add_argument("--file", required=True)
    e = sub.add_parser("event", help="print the S3 notification of an object already in the bucket")
    e.add_argument("--bucket", required=True)
    e.add_argument("--key", required=True)
    s = sub.add_parser("secret", help="create a Secrets Manager secret and print its ARN")
    s.add_argument("--name", required=True)
    s.add_argument("--value", required=True)
    r = sub.add_parser("record")
    r.add_argument("--table", required=True)
    r.add_argument("--source", required=True)
    args = p.parse_args()

    s3 = boto3.client("s3", endpoint_url=args.s3, config=boto3.session.Config(s3={"addressing_style": "path"}))
    ddb = boto3.client("dynamodb", endpoint_url=args.dynamodb)

    if args.cmd == "create":
        s3.create_bucket(Bucket=args.bucket)
        ddb.create_table(TableName=args.table, **table_definition(args.template))
    elif args.cmd == "secret":
        sm = boto3.client("secretsmanager", endpoint_url=args.dynamodb)
        print(sm.create_secret(Name=args.name, SecretString=args.value)["ARN"])
    elif args.cmd in ("upload", "event"):
        if args.cmd == "upload":
            with open(args.file, "rb") as f:
                body = f.read()
            etag, size = s3.put_object(Bucket=args.bucket, Key=args.key, Body=body)["ETag"], len(body)
        else:
            head = s3.head_object(Bucket=args.bucket, Key=args.key)
            etag, size = head["ETag"], head["ContentLength"]
        # The notification S3 would send: the key form-encoded, as S3 does.
        event = {"Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2026-11-25T10:00:00.000Z", "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "AWS:LOCAL"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {"x-amz-request-id": "LOCAL", "x-amz-id-2": "LOCAL"},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "ingest",
                   "bucket": {"name": args.bucket, "ownerIdentity": {"principalId": "LOCAL"},
                              "arn": f"arn:aws:s3:::{args.bucket}"},
                   "object": {"key": urllib.parse.quote_plus(args.key, safe="/"), "size": size,
                              "eTag": etag.strip('"'), "sequencer": "0055AED6DCD90281E5"}}}]}
        json.dump(event, sys.stdout, indent=2)
    elif args.cmd == "record":
        item = ddb.get_item(TableName=args.table, Key={"source": {"S": args.source}}, ConsistentRead=True).get("Item")
        if item is None:
            sys.exit(f"no record for {args.source}")
        plain = {k: next(iter(v.values())) for k, v in sorted(item.items())}
        json.dump(plain, sys.stdout, indent=2, ensure_ascii=False)
        print()


if __name__ == "__main__":
    main()
