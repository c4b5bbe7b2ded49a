package handlers

// ConfluenceCallbackPath is where Confluence's OAuth 2.0 provider sends the browser back
// after consent; the redirect URL an admin pastes into Confluence's application link is
// DINGFLUENCE_BASE_URL followed by this path.
const ConfluenceCallbackPath = "/login/confluence/callback"
