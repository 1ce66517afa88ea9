export const login = {
  title: 'Sign in',
  intro: 'Staff sign-in for this building’s Gatehouse hub.',
  username: 'Username',
  password: 'Password',
  submit: 'Sign in',
  wrong: 'Wrong username or password.',
  certificateTitle: 'Browser warns about the certificate?',
  certificateText:
    'This hub signs its own certificate. Download the hub’s certificate authority once and add it to this device:',
  certificateLink: 'Download the hub certificate (gatehouse-hub-ca.crt)',
  certificateSteps: [
    [
      'Windows',
      'Open the file → Install Certificate → Local Machine → “Trusted Root Certification Authorities”.',
    ],
    [
      'macOS',
      'Open the file in Keychain Access (System keychain), then set “When using this certificate” to “Always Trust”.',
    ],
    [
      'iPhone / iPad',
      'Open the file, install the profile in Settings, then enable it under General → About → Certificate Trust Settings.',
    ],
    ['Android', 'Settings → Security → Encryption & credentials → Install a certificate → CA certificate.'],
    [
      'Linux',
      'Copy it to /usr/local/share/ca-certificates/ and run sudo update-ca-certificates; Firefox: Settings → Certificates → Import.',
    ],
  ] as Array<[string, string]>,
};
