/**
 * groupCode shows a long access code in groups of 4 ("ACDE-FGHJ-KMNP-QRTU")
 * so it can be read and typed back; the server ignores dashes and spaces,
 * so the grouped form works wherever the code does. Other text is returned
 * unchanged.
 */
export function groupCode(code: string): string {
  if (!/^[A-Z0-9]{9,}$/.test(code)) return code;
  return code.match(/.{1,4}/g)!.join('-');
}
