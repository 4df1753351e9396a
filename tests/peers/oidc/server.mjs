// A real OpenID Connect provider for StudyHall's sign-in tests: the certified `oidc-provider`
// with its built-in (development) login and consent forms.
//
// Configured by environment variables, set by the pytest fixture (tests/peers/oidc_provider.py):
//   OIDC_PORT     port to listen on (the issuer is http://127.0.0.1:<port>)
//   OIDC_CLIENTS  JSON list of client metadata (client_id, client_secret, redirect_uris, ...)
//   OIDC_JWKS     JSON {"keys": [...]} private signing keys (so a test can rotate them)
// Accounts: whatever login the form receives is the account id. Its email is the login when it
// holds an "@", otherwise <login>@school.example.edu; an account id starting with "unverified"
// has email_verified=false. Prints "ready <issuer>" once listening.
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT);
const issuer = `http://127.0.0.1:${port}`;
const clients = JSON.parse(process.env.OIDC_CLIENTS || '[]');
const jwks = process.env.OIDC_JWKS ? JSON.parse(process.env.OIDC_JWKS) : undefined;

function emailOf(id) {
  return id.includes('@') ? id : `${id}@school.example.edu`;
}

const provider = new Provider(issuer, {
  clients,
  jwks,
  // PKCE is required for every client (S256 is the only method oidc-provider accepts).
  pkce: { required: () => true },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  // Put the scope's claims into the ID token too (what Google and most school IdPs do).
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['studyhall-test-cookie-key-not-a-secret'] },
  ttl: { IdToken: 3600, AccessToken: 3600, AuthorizationCode: 60 },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        const email = emailOf(id);
        return {
          sub: id,
          email,
          email_verified: !id.startsWith('unverified'),
          name: `Test ${id.split('@')[0]}`,
        };
      },
    };
  },
});
// Unexpected failures go to stderr (the fixture shows them when the peer misbehaves).
provider.on('server_error', (ctx, err) => {
  process.stderr.write(`server_error: ${err && err.stack ? err.stack : err}\n`);
});

// The fixture talks plain HTTP on 127.0.0.1; nothing here is behind a proxy.
provider.proxy = false;

const server = provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});

function stop() {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
