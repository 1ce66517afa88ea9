// Mobile keys verified offline (docs/mobile-keys.md).
export {
  answerChallenge,
  CERTIFICATE_PREFIX,
  CHALLENGE_BYTES,
  certificateHash,
  decodeCertificate,
  decodePhoneResponse,
  encodeCertificate,
  encodePhoneResponse,
  type MobileKeyBody,
  type PhoneResponse,
  privateKeyFromSeed,
  publicKeyFromRaw,
  RESPONSE_CONTEXT,
  rawPublicKey,
  responseMessage,
} from './certificate.js';
export { type MobileRouteDeps, registerMobileRoutes } from './http.js';
export {
  CLOUD_ISSUER,
  HUB_ISSUER,
  ISSUER_KEY_FILE,
  type IssuedKey,
  type IssueRequest,
  IssuerKey,
  issueMobileKey,
  parsePublicKey,
  trustedIssuers,
} from './issuer.js';
export { type HubRequest, httpRequester, Phone, presentOverApi } from './phone.js';
export {
  CHALLENGE_REQUEST,
  DEFAULT_MOBILE_LIMITS,
  MobileAccess,
  type MobileAccessOptions,
  type MobileLimits,
  type MobilePresentation,
  type PublishToDoor,
} from './service.js';
export {
  ChallengeMinter,
  type ChallengeOutcome,
  DEFAULT_CHALLENGE_TTL_MS,
  type IssuedChallenge,
  type MobileVerdict,
  MobileVerifier,
  type MobileVerifierOptions,
} from './verifier.js';
