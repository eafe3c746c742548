// Renders lab-guide markdown: marked for parsing, DOMPurify for sanitising,
// and React for code blocks so they get "Copy" and "Run in terminal" buttons.
import { Fragment, useMemo } from 'react';
import { marked, type Token, type Tokens, type TokensList } from 'marked';
import DOMPurify from 'dompurify';
import { CopyButton } from './ui';

const SHELL_LANGS = new Set(['', 'sh', 'bash', 'shell', 'console', 'zsh', 'terminal', 'shell-session']);

/** The command text of a code block: "$ " prompts of console blocks are dropped. */
export function commandText(code: string, lang: string): string {
  if (lang === 'console' || lang === 'shell-session') {
    const cmds = code
      .split('\n')
      .filter((l) => /^\s*[$#] /.test(l))
      .map((l) => l.replace(/^\s*[$#] /, ''));
    if (cmds.length) return cmds.join('\n');
  }
  return code;
}

function sanitize(html: string): string {
  return DOMPurify.sanitize(html, { ADD_ATTR: ['target'] });
}

type Part = { kind: 'html'; html: string } | { kind: 'code'; code: string; lang: string };

function toParts(md: string): Part[] {
  const tokens = marked.lexer(md, { gfm: true });
  const parts: Part[] = [];
  let group: Token[] = [];
  const flush = () => {
    if (!group.length) return;
    const list = group as TokensList;
    list.links = tokens.links;
    parts.push({ kind: 'html', html: sanitize(marked.parser(list)) });
    group = [];
  };
  for (const t of tokens) {
    if (t.type === 'code') {
      flush();
      const c = t as Tokens.Code;
      parts.push({ kind: 'code', code: c.text, lang: (c.lang ?? '').trim().split(/\s+/)[0].toLowerCase() });
    } else {
      group.push(t);
    }
  }
  flush();
  return parts;
}

export function CodeBlock({ code, lang, onRun }: { code: string; lang: string; onRun?: (cmd: string) => void }) {
  const runnable = onRun && SHELL_LANGS.has(lang);
  return (
    <div className="code-block">
      <div className="code-block-bar">
        <span className="code-lang">{lang || 'code'}</span>
        <span className="code-actions">
          <CopyButton text={commandText(code, lang)} label="Copy" />
          {runnable && (
            <button
              type="button"
              className="btn btn-small btn-primary"
              onClick={() => onRun(commandText(code, lang))}
              title="Type this into the terminal and press Enter"
            >
              Run in terminal
            </button>
          )}
        </span>
      </div>
      <pre>
        <code className={lang ? `language-${lang}` : undefined}>{code}</code>
      </pre>
    </div>
  );
}

export function Markdown({ source, onRun, className }: { source: string; onRun?: (cmd: string) => void; className?: string }) {
  const parts = useMemo(() => toParts(source || ''), [source]);
  return (
    <div className={`markdown ${className ?? ''}`}>
      {parts.map((p, i) =>
        p.kind === 'html' ? (
          <div key={i} dangerouslySetInnerHTML={{ __html: p.html }} />
        ) : (
          <Fragment key={i}>
            <CodeBlock code={p.code} lang={p.lang} onRun={onRun} />
          </Fragment>
        ),
      )}
    </div>
  );
}

// Links in the guide open in a new tab, safely.
DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A' && node.getAttribute('href')) {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer');
  }
});
