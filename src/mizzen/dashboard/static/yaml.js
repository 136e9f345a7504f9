// JSON -> YAML for showing applied config the way users wrote it (block style, keys in given order).

const PLAIN = /^[A-Za-z0-9_./@-][A-Za-z0-9_ ./@:-]*$/;
const RESERVED = /^(true|false|null|yes|no|on|off|~|-?\d+(\.\d+)?([eE][-+]?\d+)?)$/i;

function scalar(v) {
  if (v === null || v === undefined) return "null";
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  const str = String(v);
  if (str !== "" && PLAIN.test(str) && !RESERVED.test(str) && !str.endsWith(":") && !str.includes(": ")) return str;
  return JSON.stringify(str);
}

function isEmpty(v) {
  return (Array.isArray(v) && v.length === 0) || (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0);
}

export function toYaml(value, indent = 0) {
  const pad = " ".repeat(indent);
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return value.map((item) => {
      if (item && typeof item === "object" && !isEmpty(item)) {
        const body = toYaml(item, indent + 2);
        return `${pad}- ${body.slice(indent + 2)}`;
      }
      return `${pad}- ${item && typeof item === "object" ? (Array.isArray(item) ? "[]" : "{}") : scalar(item)}`;
    }).join("\n");
  }
  if (value && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 0) return "{}";
    return keys.map((k) => {
      const v = value[k];
      if (v && typeof v === "object" && !isEmpty(v)) return `${pad}${scalar(k)}:\n${toYaml(v, indent + 2)}`;
      const inline = v && typeof v === "object" ? (Array.isArray(v) ? "[]" : "{}") : scalar(v);
      return `${pad}${scalar(k)}: ${inline}`;
    }).join("\n");
  }
  return pad + scalar(value);
}
