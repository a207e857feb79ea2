// The explorer: reads the gateway's OpenAPI document and, for each exposed action, shows its
// documentation and schemas and a form that calls it. Everything from the document is shown
// as text (textContent), never as markup.
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);

function authorization() {
  const token = $("#token").value.trim();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

// A schema with its references replaced by what they name (to a small depth), for reading.
function resolved(schema, components, depth = 0) {
  if (Array.isArray(schema)) return schema.map((item) => resolved(item, components, depth));
  if (schema === null || typeof schema !== "object") return schema;
  const reference = schema.$ref;
  if (typeof reference === "string" && reference.startsWith("#/components/schemas/")) {
    const target = components[reference.slice("#/components/schemas/".length)];
    return depth > 4 || target === undefined ? schema : resolved(target, components, depth + 1);
  }
  const copy = {};
  for (const [key, value] of Object.entries(schema)) copy[key] = resolved(value, components, depth);
  return copy;
}

// A starting body: each required property with a value of its type.
function example(schema) {
  const body = {};
  const samples = { string: "", integer: 0, number: 0, boolean: false, array: [], object: {} };
  for (const name of schema.required || []) {
    const property = (schema.properties || {})[name] || {};
    const type = Array.isArray(property.type) ? property.type[0] : property.type;
    body[name] = type in samples ? samples[type] : null;
  }
  return JSON.stringify(body, null, 2);
}

async function call(section, path) {
  const status = $(".status", section);
  const shown = $(".response", section);
  $(".outcome", section).hidden = false;
  const headers = { "Content-Type": "application/json", ...authorization() };
  const switches = $(".switches", section).value.trim();
  if (switches) headers["X-Switches"] = switches;
  status.textContent = "Calling\u2026";
  status.className = "status";
  try {
    const reply = await fetch(path, { method: "POST", headers, body: $(".body", section).value });
    const text = await reply.text();
    let pretty = text;
    try { pretty = JSON.stringify(JSON.parse(text), null, 2); } catch (_) { /* shown as sent */ }
    status.textContent = `${reply.status} ${reply.statusText}`;
    status.className = reply.ok ? "status ok" : "status failed";
    shown.textContent = pretty;
  } catch (error) {
    status.textContent = "The gateway could not be reached";
    status.className = "status failed";
    shown.textContent = String(error);
  }
}

function actionSection(path, operation, components) {
  const section = $("#action-template").content.firstElementChild.cloneNode(true);
  const { service, action } = operation["x-servicewire"];
  section.dataset.service = service;
  section.dataset.action = action;
  $(".path", section).textContent = path;
  $(".documentation", section).textContent = operation.description || "(no documentation)";
  const request = resolved(operation.requestBody.content["application/json"].schema, components);
  const response = resolved(operation.responses["200"].content["application/json"].schema, components);
  $(".request-schema", section).textContent = JSON.stringify(request, null, 2);
  $(".response-schema", section).textContent = JSON.stringify(response, null, 2);
  $(".body", section).value = example(request);
  $(".call", section).addEventListener("click", () => call(section, path.slice(1)));
  return section;
}

function render(document_) {
  const services = $("#services");
  services.replaceChildren();
  $("#title").textContent = document_.info.title;
  document.title = document_.info.title;
  const components = (document_.components || {}).schemas || {};
  let count = 0;
  for (const tag of document_.tags || []) {
    const block = document.createElement("section");
    block.className = "service";
    block.dataset.service = tag.name;
    const heading = document.createElement("h2");
    heading.textContent = tag.name;
    const about = document.createElement("p");
    about.textContent = tag.description || "";
    if (about.textContent.startsWith("(Unavailable")) about.className = "unavailable";
    block.append(heading, about);
    for (const [path, item] of Object.entries(document_.paths)) {
      const operation = item.post;
      if (!operation || !operation["x-servicewire"]) continue;
      const meta = operation["x-servicewire"];
      if (meta.service !== tag.name || !meta.action) continue;
      block.append(actionSection(path, operation, components));
      count += 1;
    }
    services.append(block);
  }
  $("#summary").textContent =
    `${(document_.tags || []).length} service(s), ${count} action(s). ` +
    "Fill a body and press Call; the reply is shown below the form.";
}

async function load() {
  $("#summary").textContent = "Loading the services\u2026";
  try {
    const reply = await fetch("openapi.json", { headers: authorization() });
    if (!reply.ok) {
      const problem = await reply.json().catch(() => ({}));
      const message = ((problem.errors || [])[0] || {}).message || reply.statusText;
      $("#summary").textContent = `The gateway refused to describe its services: ${message}`;
      return;
    }
    render(await reply.json());
  } catch (error) {
    $("#summary").textContent = `The gateway could not be reached: ${error}`;
  }
}

$("#reload").addEventListener("click", load);
load();
