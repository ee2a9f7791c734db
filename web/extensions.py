"""Flask extensions, created once and bound in the app factory."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Log in to continue."
login_manager.session_protection = "strong"
# No storage_uri here: it would override the app's RATELIMIT_STORAGE_URI (MODSYS_RATELIMIT_STORAGE).
limiter = Limiter(get_remote_address, headers_enabled=True)
