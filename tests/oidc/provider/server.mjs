// A real OpenID provider (panva's oidc-provider) for the portal's tests, on a free loopback port.
// Prints one JSON line {"issuer": ...} when ready; stops on SIGTERM or when stdin closes (so it
// never outlives the test run that started it).
import http from 'node:http';
import Provider from 'oidc-provider';

const SECRET = 'portal-test-secret';
const LOOPBACK = /^http:\/\/127\.0\.0\.1:\d+\//;

// Login name (typed on the provider's login page) -> claims.
const ACCOUNTS = {
  alice: { email: 'alice@example.com', email_verified: true, groups: ['staff'] },
  bob: { email: 'bob@example.com', email_verified: true, groups: ['staff', 'portal-admins'] },
  eve: { email: 'eve@example.com', email_verified: false, groups: [] },
  // U+212A KELVIN SIGN, which str.lower() turns into an ASCII k: kate@example.com's look-alike.
  kelvin: { email: '\u212Aate@example.com', email_verified: true, groups: [] },
  // Claims of the wrong type, as a misconfigured mapping sends them.
  gina: { email: 'gina@example.com', email_verified: true, groups: 5 },
  lister: { email: ['lister@example.com'], email_verified: true, groups: [] },
};

function client(clientId) {
  return {
    client_id: clientId,
    client_secret: SECRET,
    redirect_uris: ['http://127.0.0.1/auth/callback'],
    post_logout_redirect_uris: ['http://127.0.0.1/auth/signed-out'],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  };
}

const configuration = {
  // portal: the normal client. other-app: a second client with the same secret (the tests'
  // mix-up proxy swaps to it, so the ID token names another audience). portal-expired: its ID
  // tokens expired an hour before they were issued.
  clients: [client('portal'), client('other-app'), client('portal-expired')],
  cookies: { keys: ['portal-test-cookie-key'] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  conformIdTokenClaims: false, // the email and groups in the ID token, as Keycloak does
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  ttl: {
    IdToken: (ctx, token, c) => (c.clientId === 'portal-expired' ? -3600 : 3600),
  },
  async findAccount(ctx, id) {
    const account = ACCOUNTS[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, name: id, ...account };
      },
    };
  },
  // First-party clients: no consent screen, every requested scope granted.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email profile groups');
    await grant.save();
    return grant;
  },
};

let handle = (req, res) => { res.statusCode = 503; res.end(); };
const server = http.createServer((req, res) => handle(req, res));
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, configuration);
  // Test clients: any loopback portal port is a registered redirect.
  provider.Client.prototype.redirectUriAllowed = (uri) => LOOPBACK.test(uri);
  provider.Client.prototype.postLogoutRedirectUriAllowed = (uri) => LOOPBACK.test(uri);
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  handle = provider.callback();
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
