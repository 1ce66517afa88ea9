// Card values in logs show only their last 4 hex characters.
export function maskCard(valueHex: string): string {
  return valueHex.length <= 4 ? '****' : `…${valueHex.slice(-4)}`;
}
