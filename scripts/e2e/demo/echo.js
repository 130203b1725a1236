// resources/js/echo.js, as `php artisan install:broadcasting --reverb` writes
// it. The only change: Vite's import.meta.env is replaced by window.VITE_ENV
// (served as /config.js), since this demo runs without a bundler.
import Echo from 'laravel-echo';

// pusher-js is loaded as a classic <script> (its browser build is UMD), which
// sets window.Pusher; in a Vite app this is `import Pusher from 'pusher-js';
// window.Pusher = Pusher;`.
const env = window.VITE_ENV;

window.Echo = new Echo({
    broadcaster: 'reverb',
    key: env.VITE_REVERB_APP_KEY,
    wsHost: env.VITE_REVERB_HOST,
    wsPort: env.VITE_REVERB_PORT ?? 80,
    wssPort: env.VITE_REVERB_PORT ?? 443,
    forceTLS: (env.VITE_REVERB_SCHEME ?? 'https') === 'https',
    enabledTransports: ['ws', 'wss'],
});

export default window.Echo;
