"""Sign-in through external providers: Google, GitHub and any OpenID Connect provider.

Built on Authlib (OAuth2 client, PKCE) and joserfc (ID-token signatures and claims). StudyHall's
own user model stays the only one: an external identity is an `oauth_accounts` row pointing at a
user, found by (issuer, subject) and never by email alone.
"""
