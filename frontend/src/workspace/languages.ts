// CodeMirror language support chosen by file name; each pack loads on demand.
import type { Extension } from '@codemirror/state';

async function legacy(load: () => Promise<unknown>): Promise<Extension> {
  const [{ StreamLanguage }, mode] = await Promise.all([import('@codemirror/language'), load()]);
  return StreamLanguage.define(mode as Parameters<typeof StreamLanguage.define>[0]);
}

export function languageName(path: string): string | null {
  const base = path.split('/').pop()?.toLowerCase() ?? '';
  if (base === 'dockerfile' || base.endsWith('.dockerfile')) return 'dockerfile';
  if (['.bashrc', '.profile', '.bash_profile', '.zshrc'].includes(base)) return 'shell';
  const ext = base.includes('.') ? base.split('.').pop()! : '';
  const map: Record<string, string> = {
    js: 'javascript', mjs: 'javascript', cjs: 'javascript', jsx: 'jsx',
    ts: 'typescript', mts: 'typescript', cts: 'typescript', tsx: 'tsx',
    py: 'python', pyw: 'python',
    go: 'go',
    md: 'markdown', markdown: 'markdown',
    json: 'json', jsonc: 'json',
    html: 'html', htm: 'html',
    css: 'css',
    sh: 'shell', bash: 'shell', zsh: 'shell',
    yaml: 'yaml', yml: 'yaml',
    toml: 'toml',
    c: 'c', h: 'c', cc: 'cpp', cpp: 'cpp', hpp: 'cpp', java: 'java',
    rs: 'rust', rb: 'ruby', sql: 'sql', lua: 'lua',
  };
  return map[ext] ?? null;
}

export async function languageFor(path: string): Promise<Extension | null> {
  switch (languageName(path)) {
    case 'javascript':
      return (await import('@codemirror/lang-javascript')).javascript();
    case 'jsx':
      return (await import('@codemirror/lang-javascript')).javascript({ jsx: true });
    case 'typescript':
      return (await import('@codemirror/lang-javascript')).javascript({ typescript: true });
    case 'tsx':
      return (await import('@codemirror/lang-javascript')).javascript({ typescript: true, jsx: true });
    case 'python':
      return (await import('@codemirror/lang-python')).python();
    case 'go':
      return (await import('@codemirror/lang-go')).go();
    case 'markdown':
      return (await import('@codemirror/lang-markdown')).markdown();
    case 'json':
      return (await import('@codemirror/lang-json')).json();
    case 'html':
      return (await import('@codemirror/lang-html')).html();
    case 'css':
      return (await import('@codemirror/lang-css')).css();
    case 'shell':
      return legacy(() => import('@codemirror/legacy-modes/mode/shell').then((m) => m.shell));
    case 'yaml':
      return legacy(() => import('@codemirror/legacy-modes/mode/yaml').then((m) => m.yaml));
    case 'toml':
      return legacy(() => import('@codemirror/legacy-modes/mode/toml').then((m) => m.toml));
    case 'dockerfile':
      return legacy(() => import('@codemirror/legacy-modes/mode/dockerfile').then((m) => m.dockerFile));
    case 'c':
      return legacy(() => import('@codemirror/legacy-modes/mode/clike').then((m) => m.c));
    case 'cpp':
      return legacy(() => import('@codemirror/legacy-modes/mode/clike').then((m) => m.cpp));
    case 'java':
      return legacy(() => import('@codemirror/legacy-modes/mode/clike').then((m) => m.java));
    case 'rust':
      return legacy(() => import('@codemirror/legacy-modes/mode/rust').then((m) => m.rust));
    case 'ruby':
      return legacy(() => import('@codemirror/legacy-modes/mode/ruby').then((m) => m.ruby));
    case 'sql':
      return legacy(() => import('@codemirror/legacy-modes/mode/sql').then((m) => m.standardSQL));
    case 'lua':
      return legacy(() => import('@codemirror/legacy-modes/mode/lua').then((m) => m.lua));
    default:
      return null;
  }
}
