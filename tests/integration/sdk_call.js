#!/usr/bin/env node
/*
 * sdk_call.js - one Tencent Cloud API call made by the OFFICIAL Node.js SDK
 * (tencentcloud-sdk-nodejs-common, CommonClient, TC3-HMAC-SHA256), so tests
 * can check that the fake API server accepts what the real SDK sends.
 *
 * Usage:
 *   TC_SECRET_ID=... TC_SECRET_KEY=... node sdk_call.js \
 *       --connect 127.0.0.1:PORT --region ap-guangzhou \
 *       --action DescribeInstances [--params '{"Limit":10}'] \
 *       [--api-host tcr.fake.invalid] [--version 2019-09-24]
 *
 * The secrets come from the environment so they never appear in a process
 * list; nothing here prints them.
 *
 * Why --api-host: the SDK derives the signing scope's service from the
 * first label of its endpoint ("tcr.tencentcloudapi.com" -> "tcr"), so an
 * endpoint of "127.0.0.1:PORT" would be signed for service "127". The SDK is
 * therefore given "<api-host>:PORT" and an HTTP agent whose DNS lookup
 * answers every name with the --connect address, which must be a loopback
 * address. The default name is under .invalid (RFC 6761), so even if the
 * lookup override were bypassed nothing could leave the machine.
 *
 * Output (stdout, one JSON line):
 *   success: the SDK's Response object ({..., "RequestId"}), exit 0
 *   API error: {"Error": {"Code", "Message"}, "RequestId"}, exit 1
 *     (Code is what the SDK reports as err.code; a transport error has
 *     Code "" and the SDK's message)
 * Usage errors or a missing SDK: a message on stderr, exit 2.
 */
"use strict";

const http = require("http");
const net = require("net");
const path = require("path");

const SDK_PACKAGE = "tencentcloud-sdk-nodejs-common";
const SDK_DIR =
    process.env.TC_SDK_DIR || path.join(__dirname, "..", "sdk", "node_modules");

function die(msg) {
    process.stderr.write("sdk_call: " + msg + "\n");
    process.exit(2);
}

function parseArgs(argv) {
    const opts = {
        "api-host": "tcr.fake.invalid",
        version: "2019-09-24",
        params: "{}",
    };
    const known = ["connect", "region", "action", "params", "api-host", "version"];
    for (let i = 0; i < argv.length; i += 2) {
        const name = argv[i].replace(/^--/, "");
        if (!argv[i].startsWith("--") || !known.includes(name) || i + 1 >= argv.length) {
            die("bad argument " + JSON.stringify(argv[i]));
        }
        opts[name] = argv[i + 1];
    }
    for (const req of ["connect", "region", "action"]) {
        if (!opts[req]) die("--" + req + " is required");
    }
    return opts;
}

/* "127.0.0.1:8080" or "[::1]:8080" -> {address, port, family}; loopback
 * only, so a test can never send fixture credentials anywhere else. */
function parseConnect(text) {
    const m = /^(?:\[([0-9a-fA-F:]+)\]|([0-9.]+)):([0-9]{1,5})$/.exec(text);
    if (!m) die("--connect must be IP:PORT");
    const address = m[1] || m[2];
    const family = net.isIP(address);
    const port = Number(m[3]);
    const loopback = family === 4 ? address.startsWith("127.") : address === "::1";
    if (!family || !loopback || port < 1 || port > 65535) {
        die("--connect must be a loopback address with a port");
    }
    return { address, port, family };
}

function loadSdk() {
    try {
        return require(path.join(SDK_DIR, SDK_PACKAGE));
    } catch (e) {
        die(
            "the official SDK package " + SDK_PACKAGE + " is not installed in " +
            SDK_DIR + " (run deploy/install-deps.sh): " + e.message
        );
    }
    return null;
}

async function main() {
    const opts = parseArgs(process.argv.slice(2));
    const target = parseConnect(opts.connect);
    let params;
    try {
        params = JSON.parse(opts.params);
    } catch (e) {
        die("--params is not JSON: " + e.message);
    }
    const secretId = process.env.TC_SECRET_ID;
    const secretKey = process.env.TC_SECRET_KEY;
    if (!secretId || !secretKey) die("TC_SECRET_ID and TC_SECRET_KEY must be set");
    if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(opts["api-host"])) {
        die("--api-host must be a DNS name such as tcr.fake.invalid");
    }

    const { CommonClient } = loadSdk();
    // Every name resolves to the loopback target; node may ask for one
    // address or (autoSelectFamily) for a list.
    const lookup = (hostname, options, cb) => {
        if (typeof options === "function") cb = options;
        if (options && options.all) {
            cb(null, [{ address: target.address, family: target.family }]);
        } else {
            cb(null, target.address, target.family);
        }
    };
    const agent = new http.Agent({ keepAlive: false, lookup });
    const endpoint = opts["api-host"] + ":" + target.port;
    const client = new CommonClient(endpoint, opts.version, {
        credential: { secretId, secretKey },
        region: opts.region,
        profile: {
            // signMethod defaults to TC3-HMAC-SHA256 and reqMethod to POST;
            // both are spelled out so an SDK default change cannot silently
            // change what this test exercises.
            signMethod: "TC3-HMAC-SHA256",
            httpProfile: {
                endpoint,
                protocol: "http://",
                reqMethod: "POST",
                reqTimeout: 20,
                agent,
            },
        },
    });
    try {
        const resp = await client.request(opts.action, params);
        process.stdout.write(JSON.stringify(resp) + "\n");
        return 0;
    } catch (err) {
        const out = {
            Error: { Code: err.code || "", Message: String(err.message || err) },
            RequestId: err.requestId || "",
        };
        process.stdout.write(JSON.stringify(out) + "\n");
        return 1;
    }
}

main().then(
    (rc) => process.exit(rc),
    (e) => die("unexpected failure: " + (e && e.message))
);
