/**
 * @fileoverview An error in the `.moe` text an import generates, pointed back into the
 * config. The importer checks what it knows a config can get wrong (group counts, top-k,
 * rope values) at the field; anything the frontend still finds in the generated text would
 * otherwise point into `config.moe:73:47`, a file that does not exist. The generated text
 * declares each size as a constant commented with its config field
 * (`const GROUPS = 7   // n_group`), so a diagnostic whose span names a constant moves to
 * that field's value in config.json; any other moves to the config's first character, and
 * the message says where in the generated text it arose.
 */
import { type Diagnostic, MoecError } from '../../ir/diagnostics.ts';
import type { SourceFile, Span } from '../../ir/source.ts';
import type { JsonDocument } from './json-source.ts';

/** `const NAME = value  // field` lines of the generated text whose comment is a field of the config. */
function constantFields(generated: SourceFile, doc: JsonDocument): Map<string, string> {
  const fields = new Map<string, string>();
  for (const m of generated.text.matchAll(/^const (\w+) = [^\n]*?\/\/ ([\w.]+)\s*$/gm)) if (doc.values.has(m[2])) fields.set(m[1], m[2]);
  return fields;
}

/** The config field behind a span of the generated text: a constant written in it. */
function fieldOf(span: Span, generated: SourceFile, fields: Map<string, string>): string | undefined {
  const text = generated.text.slice(span.start, span.end);
  for (const [name, field] of fields) if (new RegExp(`\\b${name}\\b`).test(text)) return field;
  return undefined;
}

/** `e` (from compiling `generated`) with every diagnostic that points into `generated` pointed into the config. */
export function pointIntoConfig(e: MoecError, generated: SourceFile, doc: JsonDocument): MoecError {
  const fields = constantFields(generated, doc);
  const moved = e.diagnostics.map((d): Diagnostic => {
    if (!d.span || d.span.file !== generated.path) return d;
    const field = fieldOf(d.span, generated, fields);
    const { line, col } = generated.position(d.span.start);
    const where = `at ${line}:${col} of the .moe text moec generates from this config (\`moec import ${doc.source.path}\` prints it): \`${generated.line(line).trim()}\``;
    return {
      ...d,
      message: field ? `${field}: ${d.message}` : d.message,
      span: field ? doc.values.get(field) : doc.source.span(0, 1),
      hint: d.hint ? `${d.hint}; ${where}` : where,
    };
  });
  const out = new MoecError(moved);
  for (const src of e.sources.values()) if (src.path !== generated.path) out.addSource(src);
  return out.addSource(doc.source);
}
