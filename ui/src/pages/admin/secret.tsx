// A device's MQTT connection details, shown once: host, TLS port, username (the device id), password (the
// secret) and the hub's CA, as text with copy buttons and as a QR code for controllers with a setup app.
// Nothing here is stored: closing the dialog drops the secret from the page.
import { useEffect, useState } from 'preact/hooks';
import { Dialog } from '../../components/dialog.js';
import { QrCode } from '../../components/qr.js';
import { Button, Notice } from '../../components/ui.js';
import { t } from '../../i18n/index.js';
import { CopyButton } from './parts.js';

const s = t.install;

/** A secret to show once: after adding a device or rotating its secret. */
export interface Issued {
  deviceId: string;
  secret: string;
}

/** The compact JSON a controller's setup app reads from the QR code. */
export function connectionJson(host: string, port: number, issued: Issued): string {
  return JSON.stringify({ host, port, username: issued.deviceId, password: issued.secret });
}

export function SecretDialog({
  issued,
  port,
  onClose,
}: {
  issued: Issued;
  port: number;
  onClose: () => void;
}) {
  // The address this browser reached the hub by is the one devices on the same network use.
  const host = location.hostname;
  const [ca, setCa] = useState<string | null | undefined>(undefined);
  useEffect(() => {
    fetch('/ca.crt', { credentials: 'same-origin' })
      .then((r) => (r.ok ? r.text() : null))
      .then(
        (text) => setCa(text?.includes('BEGIN CERTIFICATE') ? text : null),
        () => setCa(null),
      );
  }, []);
  const rows: Array<[string, string, boolean]> = [
    [s.host, host, false],
    [s.port, String(port), false],
    [s.username, issued.deviceId, false],
    [s.password, issued.secret, true],
  ];
  return (
    <Dialog open title={s.secretTitle(issued.deviceId)} onClose={onClose}>
      <div class="conn-layout">
        <div>
          <Notice tone="warn">{s.secretOnce}</Notice>
          <dl class="conn">
            {rows.map(([label, value, secret]) => (
              <div key={label} class="conn-row">
                <dt>{label}</dt>
                <dd>
                  <code class={secret ? 'secret conn-secret' : 'secret'} data-field={label}>
                    {value}
                  </code>
                  <CopyButton text={value} what={label} />
                </dd>
              </div>
            ))}
          </dl>
        </div>
        <div class="conn-qr">
          <QrCode text={connectionJson(host, port, issued)} label={s.qrLabel} size={240} />
          <p class="qr-warning">{s.qrWarning}</p>
        </div>
      </div>
      <section class="conn-ca" aria-label={s.caTitle}>
        <div class="conn-ca-head">
          <h3>{s.caTitle}</h3>
          {ca && <CopyButton text={ca} what={s.caTitle} />}
        </div>
        <p class="field-hint">{s.caHint}</p>
        {ca === null && <Notice tone="warn">{s.caMissing}</Notice>}
        {ca && <pre class="secret">{ca}</pre>}
        <a href="/ca.crt" download="gatehouse-hub-ca.crt">
          {s.caDownload}
        </a>
      </section>
      <div class="dialog-actions">
        <Button variant="primary" onClick={onClose}>
          {s.done}
        </Button>
      </div>
    </Dialog>
  );
}
