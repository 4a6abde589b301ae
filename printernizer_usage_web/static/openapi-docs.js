// Renders /openapi.json as readable cards, offline (the stock viewers need a CDN).
"use strict";

function resolve(schema, spec, depth = 0) {
  if (!schema || depth > 6) return schema;
  if (schema.$ref) {
    const name = schema.$ref.split("/").pop();
    return resolve((spec.components.schemas || {})[name], spec, depth + 1);
  }
  return schema;
}

function example(schema, spec, depth = 0) {
  schema = resolve(schema, spec, depth);
  if (!schema || depth > 5) return null;
  if (schema.examples && schema.examples.length) return schema.examples[0];
  if (schema.default !== undefined) return schema.default;
  if (schema.anyOf) return example(schema.anyOf[0], spec, depth + 1);
  switch (schema.type) {
    case "object": {
      const out = {};
      for (const [k, v] of Object.entries(schema.properties || {})) out[k] = example(v, spec, depth + 1);
      return out;
    }
    case "array": return [example(schema.items, spec, depth + 1)];
    case "integer": case "number": return 0;
    case "boolean": return false;
    case "string": return schema.format === "date-time" ? "2026-01-01T00:00:00Z" : "string";
    default: return null;
  }
}

function node(tag, cls, text) {
  const n = document.createElement(tag);
  if (cls) n.className = cls;
  if (text !== undefined) n.textContent = text;
  return n;
}

async function main() {
  const box = document.getElementById("endpoints");
  try {
    const spec = await (await fetch("/openapi.json")).json();
    const cards = [];
    for (const [path, item] of Object.entries(spec.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const card = node("section", "card endpoint");
        const h = node("h2");
        h.append(node("span", `method ${method}`, method.toUpperCase()), path);
        if (op.security) h.append(node("span", "lock", "needs credentials"));
        card.append(h, node("p", "", op.description || op.summary || ""));
        const body = op.requestBody && op.requestBody.content && op.requestBody.content["application/json"];
        if (body) {
          card.append(node("h3", "", "Request body"), node("pre", "", JSON.stringify(example(body.schema, spec), null, 2)));
        }
        for (const [code, resp] of Object.entries(op.responses || {})) {
          const content = resp.content && resp.content["application/json"];
          if (!content) continue;
          card.append(node("h3", "", `Response ${code}`), node("pre", "", JSON.stringify(example(content.schema, spec), null, 2)));
        }
        cards.push(card);
      }
    }
    box.replaceChildren(...cards);
  } catch (err) {
    box.replaceChildren(node("p", "empty", `Could not load /openapi.json: ${err.message}`));
  }
}

document.addEventListener("DOMContentLoaded", main);
