import { describe, expect, it } from 'vitest';
import { render } from '@testing-library/react';
import type { ProvisionStep } from '../../api';
import { ProvisionSteps } from './ProvisionSteps';

describe('provisioning steps', () => {
  it('shows a running pull with its progress and how long it has run, even when it began after the clock last ticked', () => {
    const started = new Date(Date.now() - 2000).toISOString();
    const steps: ProvisionStep[] = [
      { name: 'wait_agent', status: 'done', started_at: new Date(Date.now() - 3000).toISOString(), finished_at: started },
      { name: 'pull_image', status: 'running', started_at: started, progress: '0.3 of 1.1 MB' },
    ];
    // The class view's clock last ticked before the pull began.
    const { container } = render(<ProvisionSteps steps={steps} now={Date.now() - 2500} />);
    const pull = container.querySelector('li[data-step="pull_image"]');
    expect(pull?.querySelector('.step-progress')).toHaveTextContent('0.3 of 1.1 MB');
    expect(pull?.querySelector('.step-time')?.textContent).toMatch(/^\d\.\d s$/);
  });
});
