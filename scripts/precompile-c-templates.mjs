// Precompiles the C backend's Handlebars templates into dist/c-templates.json, so the first C
// emit of a process (every `moec compile --target x86-*`) skips ~0.4 s of Handlebars parsing
// and code generation. Runs after tsc (it calls the built compiler/backends/c/templates.js,
// the one place that knows the templates and their options); see that file for why a stale
// file cannot be used.
import { precompileCTemplates } from '../dist/compiler/backends/c/templates.js';

precompileCTemplates();
