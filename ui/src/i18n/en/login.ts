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
  setupTitle: 'Set up this hub',
  setupIntro:
    'Create the first administrator account. There is no default password: this account is the only way in until you add more staff.',
  setupUsername: 'Administrator username',
  setupUsernameHint: 'e.g. your first name. Letters, digits, dots and dashes.',
  setupPassword: 'Password',
  setupPasswordHint: 'At least 10 characters. A few unrelated words are easy to remember and hard to guess.',
  setupPasswordAgain: 'Password again',
  setupMismatch: 'The two passwords are not the same.',
  setupSubmit: 'Create administrator',
  setupNoToken:
    'This page needs the setup link the hub printed when it started (it ends in #…). Open that link, or read the token from the file “setup-token” in the hub’s data directory.',
  setupForbidden:
    'This setup link is expired or wrong. Read the current link from the hub’s log (or the file “setup-token” in its data directory) and open it again.',
  setupDone: 'Setup is already done on this hub. Sign in with your account instead.',
  setupSignIn: 'Go to sign-in',
  setupCreated: 'Administrator created. Signing you in…',
};
