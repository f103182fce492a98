// check.mjs — helpers of tests/e2e/t_openapi.sh (node, no network).
//
//   node check.mjs operations DOC        one "METHOD /path CODES" line per operation
//                                        (CODES: its documented statuses, comma-separated)
//   node check.mjs validate DOC PKGDIR   validate DOC against the OpenAPI 3.1
//                                        schema with @seriousme/openapi-schema-validator
//                                        installed in PKGDIR (make openapi-validator:
//                                        build/npm/node_modules/@seriousme/openapi-schema-validator)
// Exit 0 on success, 1 on an invalid document, 2 on a usage or set-up error.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [cmd, file, pkgdir] = process.argv.slice(2);
const methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

function load() {
    return JSON.parse(readFileSync(file, "utf8"));
}

if (cmd === "operations" && file) {
    const doc = load();
    for (const [path, item] of Object.entries(doc.paths || {}))
        for (const m of methods)
            if (item[m])
                console.log(`${m.toUpperCase()} ${path} ${Object.keys(item[m].responses || {}).join(",")}`);
} else if (cmd === "validate" && file && pkgdir) {
    let mod;
    try {
        mod = await import(pathToFileURL(join(pkgdir, "index.js")).href);
    } catch (e) {
        console.error(`cannot load the validator from ${pkgdir}: ${e.message}`);
        process.exit(2);
    }
    const validator = new mod.Validator();
    const result = await validator.validate(load());
    console.log(`validator: openapi ${validator.version}, valid ${result.valid}`);
    if (validator.version !== "3.1") {
        console.error(`validated as OpenAPI ${validator.version}, expected 3.1`);
        process.exit(1);
    }
    if (!result.valid) {
        console.error(JSON.stringify(result.errors, null, 2).slice(0, 4000));
        process.exit(1);
    }
    // every local $ref must resolve too
    const doc = load();
    const bad = [];
    const walk = (o) => {
        if (Array.isArray(o)) o.forEach(walk);
        else if (o && typeof o === "object")
            for (const [k, v] of Object.entries(o)) {
                if (k === "$ref" && typeof v === "string") {
                    let cur = v.startsWith("#/") ? doc : undefined;
                    for (const part of v.slice(2).split("/"))
                        cur = cur === undefined ? undefined : cur[part.replace(/~1/g, "/").replace(/~0/g, "~")];
                    if (cur === undefined) bad.push(v);
                } else walk(v);
            }
    };
    walk(doc);
    if (bad.length) {
        console.error(`unresolved $ref: ${[...new Set(bad)].join(", ")}`);
        process.exit(1);
    }
    // the OpenAPI schema does not look inside the JSON Schemas: check them
    // against the 2020-12 meta-schema and compile them (types, regexes) with
    // the validator's own Ajv
    const modules = join(pkgdir, "..", "..");
    const Ajv2020 = (await import(pathToFileURL(join(modules, "ajv", "dist", "2020.js")).href)).default;
    const addFormats = (await import(pathToFileURL(join(modules, "ajv-formats", "dist", "index.js")).href)).default;
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    const defs = { ...doc.components.schemas };
    for (const kind of ["parameters", "headers"])
        for (const [name, v] of Object.entries(doc.components[kind] || {}))
            if (v.schema) defs[`${kind}.${name}`] = v.schema;
    const text = JSON.stringify(defs).replaceAll("#/components/schemas/", "#/$defs/");
    const root = { $id: "https://zhook.dev/openapi.json", $defs: JSON.parse(text) };
    try {
        ajv.addSchema(root);
        for (const name of Object.keys(root.$defs))
            ajv.compile({ $ref: `https://zhook.dev/openapi.json#/$defs/${name}` });
    } catch (e) {
        console.error(`component schemas: ${e.message}`);
        process.exit(1);
    }
    console.log(`component schemas: ${Object.keys(root.$defs).length} compiled`);
} else {
    console.error("usage: check.mjs operations DOC | validate DOC PKGDIR");
    process.exit(2);
}
