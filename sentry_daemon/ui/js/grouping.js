// Why an event is in its issue: every grouping variant (GET /__parlel/events/{id}/grouping), the
// one that contributes first and open, each with its component tree and the hints that say why a
// part did not count.

import {get} from "./api.js";
import {h, note, replace, text} from "./dom.js";

export async function groupingView(holder, eventId) {
  let info;
  try {
    info = await get(`/__parlel/events/${encodeURIComponent(eventId)}/grouping`);
  } catch (error) {
    return replace(holder, note(`No grouping information: ${error.detail || error}`));
  }
  const variants = Object.values(info.variants || {}).sort((a, b) => Number(b.contributes) - Number(a.contributes));
  replace(holder,
    h("p", {class: "grouping-summary", id: "grouping"},
      `config ${text(info.grouping_config)}; primary hash `, h("code", {}, text(info.primary_hash || "none"))),
    variants.map(variant => h("details", {class: `variant ${variant.contributes ? "contributes" : "ignored"}`, open: variant.contributes},
      h("summary", {},
        h("strong", {}, variant.key), ` (${text(variant.description || variant.type)}) `,
        variant.contributes ? h("span", {class: "badge yes"}, "contributes") : h("span", {class: "badge no"}, "does not contribute"),
        variant.hash ? [" ", h("code", {}, variant.hash)] : null,
        variant.hint ? h("span", {class: "hint"}, ` — ${variant.hint}`) : null),
      variant.component ? h("ul", {class: "component-tree"}, component(variant.component)) :
        variant.values ? h("p", {}, `values: ${text(variant.values)}`) : null)));
}

function component(node) {
  const children = (node.values || []).filter(v => v && typeof v === "object");
  const leaves = (node.values || []).filter(v => !v || typeof v !== "object");
  return h("li", {class: node.contributes ? "contributes" : "ignored"},
    h("span", {class: "component-id"}, node.name || node.id),
    leaves.length ? [" ", h("code", {}, leaves.map(text).join(" "))] : null,
    node.hint ? h("span", {class: "hint"}, ` — ${node.hint}`) : null,
    children.length ? h("ul", {}, children.map(component)) : null);
}
