// The React example: AuthProvider + useAuth + RequireAuth from
// tokengate-client/react. Bundled by build-demos.mjs into build/react-demo.js.
import { useState } from 'react';
import { createRoot } from 'react-dom/client';
import { ApiError, createClient } from 'tokengate-client';
import { AuthProvider, RequireAuth, useAuth } from 'tokengate-client/react';

const api = new URLSearchParams(location.search).get('api') ?? 'http://localhost:8080/api';
const auth = createClient({ baseUrl: api });
window.tokengate = auth;

function Status() {
  const { state, user } = useAuth();
  return (
    <p id="status" data-state={state}>
      {state === 'logged-in' ? `Logged in as ${user?.name ?? ''}` : state === 'logged-out' ? 'Logged out' : 'Checking session…'}
    </p>
  );
}

function Login() {
  const { login } = useAuth();
  const [message, setMessage] = useState('');
  async function onSubmit(ev) {
    ev.preventDefault();
    const data = new FormData(ev.currentTarget);
    try {
      await login({ email: String(data.get('email')), password: String(data.get('password')) });
    } catch (err) {
      setMessage(err instanceof ApiError ? err.message : String(err));
    }
  }
  return (
    <form id="login-form" onSubmit={onSubmit}>
      <label>Email <input name="email" type="email" required /></label>
      <label>Password <input name="password" type="password" required /></label>
      <button type="submit">Log in</button>
      <p id="login-message">{message}</p>
    </form>
  );
}

function Account() {
  const { user, logout } = useAuth();
  return (
    <section id="account">
      <p id="user-email">{user?.email}</p>
      <button type="button" id="logout" onClick={() => logout()}>Log out</button>
    </section>
  );
}

createRoot(document.getElementById('root')).render(
  <AuthProvider client={auth}>
    <Status />
    <RequireAuth fallback={<Login />} loading={<p id="loading">Checking session…</p>}>
      <Account />
    </RequireAuth>
  </AuthProvider>,
);
document.body.dataset.ready = 'true';
