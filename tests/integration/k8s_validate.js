#!/usr/bin/env node
/*
 * k8s_validate.js - schema checks of Kubernetes manifests with the pinned
 * kubernetes-models package (per-kind classes whose validate() runs the
 * Kubernetes OpenAPI schemas compiled by ajv) and yaml, both installed into
 * tests/sdk/node_modules by deploy/install-deps.sh (npm ci).
 *
 * Usage: node k8s_validate.js [--dump] FILE...
 *
 * Every YAML document of every file is parsed as YAML 1.1, the way kubectl
 * reads it (0400 is octal, duplicate keys are errors), and checked:
 *   - apiVersion and kind name a model kubernetes-models has;
 *   - validate() passes (types, enums, required fields, formats);
 *   - no field is unknown to the schema. The schemas leave
 *     additionalProperties open, so validate() alone accepts a misspelt
 *     field ("completionz: 3" would be dropped silently by the API server
 *     with a warning). Each field is therefore probed: its value is
 *     replaced by true and by a string; a field the schema knows gets a
 *     type error at its own path for at least one of them, an unknown one
 *     gets none. (A free-form field, x-kubernetes-preserve-unknown-fields,
 *     would be reported too; these manifests have none.)
 *
 * Output: one line per document ("FILE: Kind/name: ok") and one per problem
 * ("FILE: Kind/name: /spec/completionz: unknown field") on stdout. With
 * --dump, a JSON object {FILE: [document, ...]} instead, for callers that
 * check the content (Python has no YAML parser in its standard library);
 * problems then go to stderr.
 *
 * Exit: 0 all valid, 1 some problem, 2 usage error or the npm packages are
 * missing (the message says how to install them).
 */
"use strict";

const fs = require("fs");
const path = require("path");
const { pathToFileURL } = require("url");

const MODULES =
    process.env.K8S_MODELS_DIR ||
    path.join(__dirname, "..", "sdk", "node_modules");

function die(code, msg) {
    process.stderr.write("k8s_validate: " + msg + "\n");
    process.exit(code);
}

function loadYaml() {
    try {
        return require(path.join(MODULES, "yaml"));
    } catch (e) {
        die(2, "cannot load the npm package yaml from " + MODULES +
            " (run deploy/install-deps.sh, or: cd tests/sdk && npm ci): " +
            e.message);
    }
}

/* The kubernetes-models class for apiVersion + kind, or null when the
 * package has no such model. Core kinds live under v1/, the others under
 * GROUP/VERSION/. */
async function modelClass(apiVersion, kind) {
    if (typeof apiVersion !== "string" || typeof kind !== "string" ||
        !/^[A-Za-z0-9.\-/]+$/.test(apiVersion) || !/^[A-Za-z0-9]+$/.test(kind))
        return null;
    const file = path.join(MODULES, "kubernetes-models", apiVersion,
                           kind + ".js");
    if (!fs.existsSync(file))
        return null;
    const mod = await import(pathToFileURL(file).href);
    return mod[kind] || null;
}

/* ajv's errors of validating doc with cls, or [] when valid. */
function schemaErrors(cls, doc) {
    try {
        new cls(doc).validate();
        return [];
    } catch (e) {
        if (Array.isArray(e.errors))
            return e.errors;
        throw e;
    }
}

/* JSON Pointer (RFC 6901) of a path of keys, as ajv's instancePath. */
function pointer(keys) {
    return keys.map((k) => "/" + String(k).replace(/~/g, "~0")
                                           .replace(/\//g, "~1")).join("");
}

function clone(v) {
    return JSON.parse(JSON.stringify(v));
}

function setAt(doc, keys, value) {
    let o = doc;
    for (let i = 0; i < keys.length - 1; i++)
        o = o[keys[i]];
    o[keys[keys.length - 1]] = value;
}

/* Paths (arrays of keys) of every object field in v, depth first. */
function fieldPaths(v, prefix, out) {
    if (Array.isArray(v)) {
        v.forEach((x, i) => fieldPaths(x, prefix.concat([i]), out));
    } else if (v !== null && typeof v === "object") {
        for (const k of Object.keys(v)) {
            out.push(prefix.concat([k]));
            fieldPaths(v[k], prefix.concat([k]), out);
        }
    }
    return out;
}

/* The fields of doc that the schema does not know. */
function unknownFields(cls, doc) {
    const unknown = [];
    const probes = [true, "k8s-validate-probe"];
    for (const keys of fieldPaths(doc, [], [])) {
        const where = pointer(keys);
        let known = false;
        for (const probe of probes) {
            const d = clone(doc);
            setAt(d, keys, probe);
            const errs = schemaErrors(cls, d);
            if (errs.some((e) => e.instancePath === where ||
                                 e.instancePath.startsWith(where + "/"))) {
                known = true;
                break;
            }
        }
        if (!known)
            unknown.push(where);
    }
    /* Under an unknown field everything is unknown: report the top one. */
    return unknown.filter((p) => !unknown.some((q) => p.startsWith(q + "/")));
}

async function checkFile(YAML, file, problems, oks) {
    const text = fs.readFileSync(file, "utf8");
    const docs = YAML.parseAllDocuments(text, { version: "1.1",
                                                uniqueKeys: true });
    const out = [];
    let n = 0;
    for (const d of docs) {
        n++;
        if (d.errors && d.errors.length) {
            for (const e of d.errors)
                problems.push(file + ": document " + n + ": YAML: " +
                              e.message.split("\n")[0]);
            continue;
        }
        const doc = d.toJS();
        if (doc === null || doc === undefined)
            continue; /* an empty document (comments only) */
        out.push(doc);
        const name = (doc.kind || "?") + "/" +
                     ((doc.metadata && doc.metadata.name) || "?");
        const where = file + ": " + name;
        const cls = await modelClass(doc.apiVersion, doc.kind);
        if (!cls) {
            problems.push(where + ": no schema for apiVersion " +
                          JSON.stringify(doc.apiVersion) + " kind " +
                          JSON.stringify(doc.kind));
            continue;
        }
        const before = problems.length;
        for (const e of schemaErrors(cls, doc))
            problems.push(where + ": " + (e.instancePath || "/") + ": " +
                          e.message + (e.params && e.params.allowedValues
                                       ? " " + JSON.stringify(
                                             e.params.allowedValues)
                                       : ""));
        for (const p of unknownFields(cls, doc))
            problems.push(where + ": " + p + ": unknown field");
        if (problems.length === before)
            oks.push(where + ": ok");
    }
    if (n === 0)
        problems.push(file + ": no YAML document");
    return out;
}

async function main() {
    const args = process.argv.slice(2);
    const dump = args[0] === "--dump";
    const files = dump ? args.slice(1) : args;
    if (files.length === 0)
        die(2, "usage: node k8s_validate.js [--dump] FILE...");
    const YAML = loadYaml();
    if (!fs.existsSync(path.join(MODULES, "kubernetes-models",
                                 "package.json")))
        die(2, "the npm package kubernetes-models is not installed in " +
            MODULES + " (run deploy/install-deps.sh, or: cd tests/sdk && " +
            "npm ci)");
    const problems = [], oks = [];
    const parsed = {};
    for (const f of files) {
        try {
            parsed[f] = await checkFile(YAML, f, problems, oks);
        } catch (e) {
            problems.push(f + ": " + e.message);
        }
    }
    const report = dump ? process.stderr : process.stdout;
    for (const line of oks.concat(problems))
        report.write(line + "\n");
    if (dump)
        process.stdout.write(JSON.stringify(parsed) + "\n");
    process.exit(problems.length ? 1 : 0);
}

main().catch((e) => die(2, e.stack || String(e)));
