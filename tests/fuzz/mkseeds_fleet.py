#!/usr/bin/env python3
"""mkseeds_fleet.py OUTDIR — seed inputs for fuzz-s3xml and fuzz-manifest
(issue 12): what a store answers and what a manifest can be.

s3xml: answers as Ceph radosgw 16.2 gave them (captured with curl against
tests/fleet/s3server.sh: ListObjectsV2 pages, ListParts pages, <Error>s,
InitiateMultipartUpload, CompleteMultipartUpload), the same in the AWS
layout (indented, with Owner and ChecksumAlgorithm), and broken ones
(cut short, out of order, outside the prefix, duplicate fields, bad
numbers, deep nesting, non-MD5 ETags).
manifest: "KEY\\nJSON" as fuzz-manifest.c reads it: manifests written by
hv-upload.c (from hvdumpd and from hvdump fleet push), and hostile ones
(dump_key traversal, id that is not the key's, dates that disagree, NUL
bytes, bidi and escape sequences in text, trailing data, deep nesting).
Writes OUTDIR/s3xml/* and OUTDIR/manifest/*."""
import json
import os
import sys

HDR = '<?xml version="1.0" encoding="UTF-8"?>'
NS = ' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
MD5 = ["330e9d9a3217db945ddd10e18f4cc2b9", "17857cf2542499c6278d672cd76fc39e",
       "b1946ac92492d2347c6235b4d2611184"]


def rgw_contents(key, size=6, etag=MD5[2]):
    return ("<Contents><Key>%s</Key><LastModified>2026-12-05T18:25:53.231Z</LastModified>"
            "<ETag>&quot;%s&quot;</ETag><Size>%d</Size><StorageClass>STANDARD</StorageClass>"
            "<Type>Normal</Type></Contents>" % (key, etag, size))


def rgw_list(prefix, keys, truncated=False, token=None, max_keys=1000, count=None):
    body = "".join(rgw_contents(k) for k in keys)
    tok = "<NextContinuationToken>%s</NextContinuationToken>" % token if token else ""
    return (HDR + "<ListBucketResult" + NS + "><Name>fleet</Name><Prefix>%s</Prefix><MaxKeys>%d</MaxKeys>"
            "<IsTruncated>%s</IsTruncated>%s%s<KeyCount>%d</KeyCount></ListBucketResult>"
            % (prefix, max_keys, "true" if truncated else "false", body, tok,
               len(keys) if count is None else count))


def aws_list(prefix, keys, truncated=False, token=None):
    parts = [HDR, "\n<ListBucketResult" + NS + ">", "\n  <Name>fleet</Name>",
             "\n  <Prefix>%s</Prefix>" % prefix, "\n  <KeyCount>%d</KeyCount>" % len(keys),
             "\n  <MaxKeys>1000</MaxKeys>", "\n  <IsTruncated>%s</IsTruncated>" % str(truncated).lower()]
    if token:
        parts.append("\n  <ContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</ContinuationToken>")
        parts.append("\n  <NextContinuationToken>%s</NextContinuationToken>" % token)
    for k in keys:
        parts.append("\n  <Contents>\n    <Key>%s</Key>\n    <LastModified>2026-12-05T10:11:12.000Z</LastModified>"
                     "\n    <ETag>&quot;%s-3&quot;</ETag>\n    <ChecksumAlgorithm>CRC32</ChecksumAlgorithm>"
                     "\n    <Size>41943040</Size>\n    <Owner>\n      <ID>75aa57f09aa0c8caeab4f8c24e99d10f</ID>"
                     "\n      <DisplayName>ops</DisplayName>\n    </Owner>\n    <StorageClass>STANDARD</StorageClass>"
                     "\n  </Contents>" % (k, MD5[0]))
    parts.append("\n</ListBucketResult>\n")
    return "".join(parts)


def part(n, etag, size, lm="2026-12-05T18:25:59.458Z"):
    return ("<Part><LastModified>%s</LastModified><PartNumber>%d</PartNumber><ETag>&quot;%s&quot;</ETag>"
            "<Size>%d</Size></Part>" % (lm, n, etag, size))


def rgw_parts(parts, truncated=False, marker=0, nxt=None, max_parts=1000):
    return (HDR + "<ListPartsResult" + NS + "><Bucket>seedb</Bucket><Key>dumps/big</Key>"
            "<UploadId>2~B5FtDzCMcJfkVKUlJ7V-WKailbJXzhD</UploadId><StorageClass>STANDARD</StorageClass>"
            "<PartNumberMarker>%d</PartNumberMarker><NextPartNumberMarker>%d</NextPartNumberMarker>"
            "<MaxParts>%d</MaxParts><IsTruncated>%s</IsTruncated><Owner><ID></ID><DisplayName></DisplayName>"
            "</Owner>%s</ListPartsResult>"
            % (marker, nxt if nxt is not None else (parts[-1][0] if parts else 0), max_parts,
               "true" if truncated else "false", "".join(part(*p) for p in parts)))


def rgw_error(code, bucket="seedb", message=""):
    return (HDR + "<Error><Code>%s</Code><Message>%s</Message><BucketName>%s</BucketName>"
            "<RequestId>tx000001dc4a6123bd3d908-006b145731-100c-default</RequestId>"
            "<HostId>100c-default-default</HostId></Error>" % (code, message, bucket))


P = "pfx/manifests/"
K = [P + "2026/12/04/20261204T040000Z-hostX-vmx-00000001.json",
     P + "2026/12/04/20261204T080000Z-hostX-vmx-00000005.json",
     P + "2026/12/05/20261205T183302Z-vm-vm1-34652d1a.json"]

S3XML = {
    # radosgw 16.2, as captured
    "rgw-list.xml": rgw_list(P, K),
    "rgw-list-truncated.xml": rgw_list(P, K[:1], True, K[0], max_keys=1),
    "rgw-list-empty.xml": rgw_list("nothing/", []),
    "rgw-list-escaped.xml": rgw_list(P, [P + "2026/01/03/y&amp;z&lt;.json"]),
    "rgw-parts.xml": rgw_parts([(1, MD5[0], 5242880), (2, MD5[1], 1000)]),
    "rgw-parts-truncated.xml": rgw_parts([(1, MD5[0], 5242880)], True, 0, 1, max_parts=1),
    "rgw-parts-page2.xml": rgw_parts([(2, MD5[1], 1000)], False, 1, 2),
    "rgw-initiate.xml": HDR + "<InitiateMultipartUploadResult" + NS + "><Bucket>seedb</Bucket><Key>big</Key>"
    "<UploadId>2~G095xEfyhXEfF1_86LLbJNB4KVDIVKv</UploadId></InitiateMultipartUploadResult>",
    "rgw-complete.xml": HDR + "<CompleteMultipartUploadResult" + NS + "><Location>http://127.0.0.1:7481/seedb/"
    "dumps/big</Location><Bucket>seedb</Bucket><Key>dumps/big</Key><ETag></ETag></CompleteMultipartUploadResult>",
    "rgw-nosuchkey.xml": rgw_error("NoSuchKey"),
    "rgw-nosuchbucket.xml": rgw_error("NoSuchBucket", "nob"),
    "rgw-nosuchupload.xml": rgw_error("NoSuchUpload"),
    "rgw-accessdenied.xml": rgw_error("AccessDenied"),
    "rgw-baddigest.xml": rgw_error("BadDigest"),
    "rgw-signature.xml": HDR + "<Error><Code>SignatureDoesNotMatch</Code><Message></Message><RequestId>"
    "tx000002727856b8ab33f08-006b14573b-100c-default</RequestId><HostId>100c-default-default</HostId></Error>",
    # the AWS layout
    "aws-list.xml": aws_list(P, K[:2]),
    "aws-list-truncated.xml": aws_list(P, K[:2], True, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="),
    "aws-initiate.xml": HDR + "\n<InitiateMultipartUploadResult" + NS + ">\n  <Bucket>fleet</Bucket>\n"
    "  <Key>dumps/x</Key>\n  <UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>\n"
    "</InitiateMultipartUploadResult>\n",
    "aws-error-200.xml": HDR + "\n<Error>\n  <Code>InternalError</Code>\n  <Message>We encountered an internal "
    "error. Please try again.</Message>\n  <RequestId>656c76696e6727732072657175657374</RequestId>\n"
    "  <HostId>Uuag1LuByRx9e6j5Onimru9pO4ZVKnJ2Qz7/C1NPcfTWAtRPfTaOFg==</HostId>\n</Error>\n",
    "aws-owned.xml": HDR + "<Error><Code>BucketAlreadyOwnedByYou</Code><Message>Your previous request to "
    "create the named bucket succeeded and you already own it.</Message><BucketName>fleet</BucketName></Error>",
    # broken
    "bad-cut.xml": rgw_list(P, K)[:400],
    "bad-order.xml": rgw_list(P, [K[1], K[0]]),
    "bad-outside.xml": rgw_list(P, ["other/x.json"]),
    "bad-keycount.xml": rgw_list(P, K, count=7),
    "bad-trunc-empty.xml": rgw_list(P, [], True, "T"),
    "bad-trunc-notoken.xml": rgw_list(P, K[:1], True),
    "bad-dupkey.xml": rgw_list(P, []).replace("<KeyCount>", "<Contents><Key>%s</Key><Key>%s</Key><Size>1</Size>"
                                              "</Contents><KeyCount>" % (K[0], K[1])),
    "bad-size.xml": rgw_list(P, K[:1]).replace("<Size>6</Size>", "<Size>-6</Size>"),
    "bad-size-huge.xml": rgw_list(P, K[:1]).replace("<Size>6</Size>", "<Size>99999999999999999999</Size>"),
    "bad-longkey.xml": rgw_list(P, [P + "k" * 1100]),
    "bad-deep.xml": HDR + "<ListBucketResult>" + "<a>" * 20 + "</a>" * 20 + "</ListBucketResult>",
    "bad-ctl.xml": rgw_error("Evil\x1b[31m\u202e", message="line\nbreak \x1b]0;title\x07 \u2028"),
    "bad-parts-kms.xml": rgw_parts([(1, "5f363e0e58a95f06cbe9bbc662c5dfb6-1", 5)]),
    "bad-parts-order.xml": rgw_parts([(2, MD5[0], 5), (1, MD5[1], 5)]),
    "bad-parts-marker.xml": rgw_parts([(1, MD5[0], 5)], True, 0, 7),
    "bad-parts-number.xml": rgw_parts([(10001, MD5[0], 5)], nxt=1),
    "bad-uploadid.xml": HDR + "<InitiateMultipartUploadResult><UploadId>a b\x01</UploadId>"
    "</InitiateMultipartUploadResult>",
    "bad-doctype.xml": HDR + '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><Error><Code>&e;</Code></Error>',
    "bad-two-roots.xml": rgw_error("A") + "<Error><Code>B</Code></Error>",
    # found by fuzz-s3xml: invalid UTF-8 in CDATA, GMarkup set an error and
    # went on; an empty element's end called back after its start failed
    "bad-text-outside.xml": b'<![CDATA[on="\xfd\xff\xff\xff1.so]]>',
    "bad-cdata-utf8.xml": rgw_list(P, [], count=1).replace("<KeyCount>", "<Contents><Key><![CDATA[pf/12/04/")
    .encode() + b"\xf9" + b"20000001.json]]></Key><Size>1</Size></Contents><KeyCount>",
    "bad-elided-deep.xml": "<ListBucketResult>" + "<a>" * 16 + "<Key/>" + "</a>" * 16 + "</ListBucketResult>",
    "bad-cdata.xml": rgw_list(P, [], count=1).replace("<KeyCount>", "<Contents><Key><![CDATA[%s]]></Key>"
                                                      "<Size>1</Size></Contents><KeyCount>" % K[0]),
}


def manifest(id_, day, suffix=".kdump", **kw):
    m = {"schema": "hvdump-manifest", "version": 1, "host": "hv01", "vm_name": "web-1",
         "vm_uuid": "4f0a9c1e-2b7d-4e51-9f3a-0c8d7e6b5a41", "time": 1796400000,
         "time_iso": "2026-12-04T16:00:00Z", "event": "panic", "policy": "default", "result": "dumped",
         "kernel": "6.1.0-28-amd64", "format": "kdump-zstd", "dump_level": 31, "complete": True,
         "capture_seconds": 2.5, "id": id_, "dump_key": "dumps/%s/%s%s" % (day, id_, suffix),
         "dump_size": 41943040,
         "dump_sha256": "6127606aef5c6c430caffa899921071cfcdfbd2d95b05c01cca481c9285aa379",
         "title": "BUG: kernel NULL pointer dereference, address: 0000000000000000",
         "signature": "a3f1c2d4e5b60718", "build_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c",
         "crash_time": 1796399990}
    m.update(kw)
    return m


ID1 = "20261204T040000Z-hv01-web-1-00000001"
KEY1 = "manifests/2026/12/04/%s.json" % ID1


def seed(key, m, raw=None):
    body = raw if raw is not None else json.dumps(m, indent=2, ensure_ascii=False)
    return key + "\n" + body


PUSHED = {"schema": "hvdump-manifest", "version": 1, "host": "vm", "vm_name": "vm1", "time": 1796495582,
          "time_iso": "2026-12-05T18:33:02Z", "pushed_by": "hvdump fleet push",
          "id": "20261205T183302Z-vm-vm1-34652d1a",
          "dump_key": "dumps/2026/12/05/20261205T183302Z-vm-vm1-34652d1a.vmcore", "dump_size": 13000000,
          "dump_sha256": "6127606aef5c6c430caffa899921071cfcdfbd2d95b05c01cca481c9285aa379",
          "triage_error": "not a vmcore: no ELF, KDUMP or makedumpfile signature"}

MANIFEST = {
    "daemon.txt": seed(KEY1, manifest(ID1, "2026/12/04")),
    "pushed.txt": seed("manifests/2026/12/05/20261205T183302Z-vm-vm1-34652d1a.json", PUSHED),
    "plain-id.txt": seed("manifests/2026/12/03/single.json", manifest("single", "2026/12/03")),
    "no-suffix.txt": seed(KEY1, manifest(ID1, "2026/12/04", suffix="")),
    "minimal.txt": seed(KEY1, None, '{"id":"%s","time":0,"dump_key":"dumps/2026/12/04/%s","dump_size":0,'
                        '"dump_sha256":"%s"}' % (ID1, ID1, "A" * 64)),
    "hostile-text.txt": seed(KEY1, manifest(ID1, "2026/12/04", title="BUG: \u202eevil\x1b[31m red \x85 \u2028x",
                                            host="h\x00idden", vm_name="\ud800")),
    "long-text.txt": seed(KEY1, manifest(ID1, "2026/12/04", title="\u00e9" * 400, guest_message="x" * 3000)),
    "bad-traversal.txt": seed(KEY1, manifest(ID1, "2026/12/04", dump_key="../x")),
    "bad-traversal2.txt": seed(KEY1, manifest(ID1, "2026/12/04",
                                              dump_key="dumps/2026/12/04/../../../../other/%s" % ID1)),
    "bad-dotfile.txt": seed(KEY1, manifest(ID1, "2026/12/04", dump_key="dumps/2026/12/04/.bashrc")),
    "bad-id.txt": seed(KEY1, manifest("other", "2026/12/04")),
    "bad-id-nul.txt": seed(KEY1, manifest(ID1 + "\x00x", "2026/12/04")),
    "bad-day.txt": seed("manifests/2026/12/04/20261201T080000Z-h-v-1.json",
                        manifest("20261201T080000Z-h-v-1", "2026/12/04")),
    "bad-dumpday.txt": seed(KEY1, manifest(ID1, "2026/12/05")),
    "bad-date.txt": seed("manifests/2026/02/30/x.json", manifest("x", "2026/02/30")),
    "bad-sha.txt": seed(KEY1, manifest(ID1, "2026/12/04", dump_sha256="0" * 63)),
    "bad-size.txt": seed(KEY1, manifest(ID1, "2026/12/04", dump_size=-1)),
    "bad-size-type.txt": seed(KEY1, manifest(ID1, "2026/12/04", dump_size="41943040")),
    "bad-time.txt": seed(KEY1, manifest(ID1, "2026/12/04", time=1e300)),
    "bad-schema.txt": seed(KEY1, manifest(ID1, "2026/12/04", schema="other")),
    "bad-suffix.txt": seed(KEY1, manifest(ID1, "2026/12/04", suffix=".kdump/../../x")),
    "bad-trailing.txt": seed(KEY1, None, json.dumps(manifest(ID1, "2026/12/04")) + "\n{}"),
    "bad-deep.txt": seed(KEY1, None, "[" * 40 + "]" * 40),
    "bad-array.txt": seed(KEY1, None, json.dumps([manifest(ID1, "2026/12/04")])),
    "bad-cut.txt": seed(KEY1, None, json.dumps(manifest(ID1, "2026/12/04"))[:200]),
    "bad-key.txt": seed("manifests/README", manifest(ID1, "2026/12/04")),
    "no-key.txt": json.dumps(manifest("20261205T101112Z-host-vm-1a2b3c4d", "2026/12/05")),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")
    for sub, seeds in (("s3xml", S3XML), ("manifest", MANIFEST)):
        d = os.path.join(out, sub)
        os.makedirs(d, exist_ok=True)
        for name, text in seeds.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))


if __name__ == "__main__":
    main()
