// Renders lab-guide markdown: marked for parsing, DOMPurify for sanitising.
// Every code block (also inside lists and quotes) gets a "Copy" button, and
// shell blocks a "Run in terminal" button, handled by one delegated listener.
import { useMemo, type MouseEvent } from 'react';
import { useLatest } from '../hooks';
import { Marked } from 'marked';
import DOMPurify from 'dompurify';
import { copyText } from './ui';

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

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

interface Rendered {
  html: string;
  blocks: { code: string; lang: string }[];
}

function render(md: string, runnable: boolean): Rendered {
  const blocks: Rendered['blocks'] = [];
  const marked = new Marked({ gfm: true });
  marked.use({
    renderer: {
      code({ text, lang }) {
        const l = (lang ?? '').trim().split(/\s+/)[0].toLowerCase();
        const i = blocks.push({ code: text, lang: l }) - 1;
        const run =
          runnable && SHELL_LANGS.has(l)
            ? `<button type="button" class="btn btn-small btn-primary" data-action="run" data-block="${i}" title="Type this into the terminal and press Enter">Run in terminal</button>`
            : '';
        return (
          `<div class="code-block"><div class="code-block-bar"><span class="code-lang">${esc(l || 'code')}</span>` +
          `<span class="code-actions"><button type="button" class="btn btn-small" data-action="copy" data-block="${i}" aria-label="Copy code">Copy</button>${run}</span></div>` +
          `<pre><code${l ? ` class="language-${esc(l)}"` : ''}>${esc(text)}</code></pre></div>`
        );
      },
    },
  });
  const raw = marked.parse(md, { async: false });
  return { html: DOMPurify.sanitize(raw, { ADD_ATTR: ['target'] }), blocks };
}

export function Markdown({ source, onRun, className }: { source: string; onRun?: (cmd: string) => void; className?: string }) {
  const { html, blocks } = useMemo(() => render(source || '', !!onRun), [source, onRun]);
  const onRunRef = useLatest(onRun);

  const onClick = (e: MouseEvent<HTMLDivElement>) => {
    const btn = (e.target as HTMLElement).closest<HTMLButtonElement>('button[data-action]');
    if (!btn) return;
    const block = blocks[Number(btn.dataset.block)];
    if (!block) return;
    const cmd = commandText(block.code, block.lang);
    if (btn.dataset.action === 'run') {
      onRunRef.current?.(cmd);
    } else if (btn.dataset.action === 'copy') {
      void copyText(cmd).then(() => {
        btn.textContent = 'Copied';
        setTimeout(() => {
          btn.textContent = 'Copy';
        }, 1500);
      });
    }
  };

  return (
    // The listener only catches clicks of the real <button>s inside (keyboard included).
    <div className={`markdown ${className ?? ''}`} onClick={onClick} dangerouslySetInnerHTML={{ __html: html }} />
  );
}

// Links in the guide open in a new tab, safely.
DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A' && node.getAttribute('href')) {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer');
  }
});
