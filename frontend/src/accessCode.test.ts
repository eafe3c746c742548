// @vitest-environment node
import { describe, expect, it } from 'vitest';
import { groupCode } from './accessCode';

describe('groupCode', () => {
  it('shows a 16-letter access code in groups of 4', () => {
    expect(groupCode('ACDEFGHJKMNPQRTU')).toBe('ACDE-FGHJ-KMNP-QRTU');
  });
  it('groups an old 10-letter code too, and leaves other text alone', () => {
    expect(groupCode('ACDEFGHJKM')).toBe('ACDE-FGHJ-KM');
    expect(groupCode('ACC-123')).toBe('ACC-123');
    expect(groupCode('ABC123')).toBe('ABC123');
  });
});
