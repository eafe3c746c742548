import { describe, expect, it, vi } from 'vitest';
import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Markdown, commandText } from './Markdown';

const guide = `# Lab 1

Some **bold** text and a [link](https://example.com).

\`\`\`bash
echo hello
ls -la
\`\`\`

\`\`\`python
print("hi")
\`\`\`

<script>alert(1)</script>
<img src=x onerror="alert(1)">
`;

describe('Markdown', () => {
  it('renders markdown, sanitised, with links opening in a new tab', () => {
    const { container } = render(<Markdown source={guide} />);
    expect(screen.getByRole('heading', { name: 'Lab 1' })).toBeInTheDocument();
    expect(container.querySelector('strong')?.textContent).toBe('bold');
    expect(container.querySelector('script')).toBeNull();
    expect(container.querySelector('img')?.getAttribute('onerror')).toBeNull();
    const a = screen.getByRole('link', { name: 'link' });
    expect(a).toHaveAttribute('target', '_blank');
    expect(a).toHaveAttribute('rel', 'noopener noreferrer');
  });

  it('gives shell code blocks Copy and Run buttons; other languages only Copy', async () => {
    const onRun = vi.fn();
    const { container } = render(<Markdown source={guide} onRun={onRun} />);
    const blocks = container.querySelectorAll('.code-block');
    expect(blocks).toHaveLength(2);
    const [bash, py] = Array.from(blocks) as HTMLElement[];
    await userEvent.click(within(bash).getByRole('button', { name: 'Run in terminal' }));
    expect(onRun).toHaveBeenCalledWith('echo hello\nls -la');
    expect(within(py).queryByRole('button', { name: 'Run in terminal' })).toBeNull();
    expect(within(py).getByRole('button', { name: /^Copy/ })).toBeInTheDocument();
  });

  it('copies the code to the clipboard', async () => {
    const user = userEvent.setup();
    const writeText = vi.fn().mockResolvedValue(undefined);
    Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true });
    const { container } = render(<Markdown source={'```sh\nmake test\n```'} onRun={() => undefined} />);
    await user.click(within(container.querySelector('.code-block') as HTMLElement).getByRole('button', { name: /^Copy/ }));
    expect(writeText).toHaveBeenCalledWith('make test');
    expect(await screen.findByText('Copied')).toBeInTheDocument();
  });

  it('gives code blocks inside lists their buttons too, and escapes code', async () => {
    const onRun = vi.fn();
    const md = '1. Build it:\n\n   ```bash\n   make build && echo "<ok>"\n   ```\n2. Done';
    const { container } = render(<Markdown source={md} onRun={onRun} />);
    const block = container.querySelector('li .code-block') as HTMLElement;
    expect(block).not.toBeNull();
    expect(block.querySelector('code')?.textContent).toBe('make build && echo "<ok>"');
    await userEvent.click(within(block).getByRole('button', { name: 'Run in terminal' }));
    expect(onRun).toHaveBeenCalledWith('make build && echo "<ok>"');
  });

  it('shows no Run button without a terminal', () => {
    const { container } = render(<Markdown source={'```bash\nls\n```'} />);
    expect(within(container).queryByRole('button', { name: 'Run in terminal' })).toBeNull();
    expect(within(container).getByRole('button', { name: /^Copy/ })).toBeInTheDocument();
  });

  it('strips prompts from console blocks', () => {
    expect(commandText('$ ls\nfile.txt\n$ pwd\n/home', 'console')).toBe('ls\npwd');
    expect(commandText('ls', 'bash')).toBe('ls');
  });
});
