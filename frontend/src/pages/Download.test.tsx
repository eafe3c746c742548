import { describe, expect, it } from 'vitest';
import { render, screen } from '@testing-library/react';
import { DownloadPage, DOWNLOAD_API } from './Download';

describe('DownloadPage', () => {
  it('posts the access code from the link to the download route as a plain form', () => {
    render(<DownloadPage search="?code=ABCD-EFGH" />);
    const input = screen.getByLabelText('Access code') as HTMLInputElement;
    expect(input.value).toBe('ABCD-EFGH');
    expect(input.name).toBe('access_code');
    const form = input.closest('form')!;
    expect(form.getAttribute('method')).toBe('post');
    expect(form.getAttribute('action')).toBe(DOWNLOAD_API);
    expect(screen.getByRole('button', { name: 'Download my work' })).not.toBeDisabled();
  });

  it('waits for a code when the link has none', () => {
    render(<DownloadPage search="" />);
    expect(screen.getByRole('button', { name: 'Download my work' })).toBeDisabled();
  });
});
