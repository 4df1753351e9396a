"""Identity use cases, one module each; this module keeps their public names in one place.

- `sign_in`: registration, login, refresh tokens, logout;
- `mail_tokens`: email verification and password reset links;
- `account`: the caller's own account;
- `saved_prompts`: the caller's saved prompts;
- `user_admin`: administration of users and look-ups by other domains;
- `api_keys`: service API keys;
- `deletion`: a user's deletion and the other domains' reactions to it.
"""

from __future__ import annotations

from studyhall.audit import service as _audit
from studyhall.identity.account import (
    change_password as change_password,
)
from studyhall.identity.account import (
    delete_me as delete_me,
)
from studyhall.identity.account import (
    join_names as join_names,
)
from studyhall.identity.account import (
    name_parts as name_parts,
)
from studyhall.identity.account import (
    own_audit_log as own_audit_log,
)
from studyhall.identity.account import (
    own_audit_logs as own_audit_logs,
)
from studyhall.identity.account import (
    record_client_event as record_client_event,
)
from studyhall.identity.account import (
    refuse_service as refuse_service,
)
from studyhall.identity.account import (
    update_me as update_me,
)
from studyhall.identity.api_keys import (
    create_api_key as create_api_key,
)
from studyhall.identity.api_keys import (
    list_api_keys as list_api_keys,
)
from studyhall.identity.api_keys import (
    revoke_api_key as revoke_api_key,
)
from studyhall.identity.credentials import (
    ACTIVITY_RESOLUTION as ACTIVITY_RESOLUTION,
)
from studyhall.identity.credentials import (
    client_key as client_key,
)
from studyhall.identity.credentials import (
    ensure_strong_password as ensure_strong_password,
)
from studyhall.identity.credentials import (
    flush_unique as flush_unique,
)
from studyhall.identity.credentials import (
    hash_secret as hash_secret,
)
from studyhall.identity.credentials import (
    revoke_access as revoke_access,
)
from studyhall.identity.credentials import (
    touch_activity as touch_activity,
)
from studyhall.identity.credentials import (
    verify_secret as verify_secret,
)
from studyhall.identity.deletion import (
    UserDeletionHook as UserDeletionHook,
)
from studyhall.identity.deletion import (
    delete_account as delete_account,
)
from studyhall.identity.deletion import (
    on_user_deleted as on_user_deleted,
)
from studyhall.identity.deletion import (
    user_deletion_hooks as user_deletion_hooks,
)
from studyhall.identity.mail_tokens import (
    PASSWORD_RESET_JOB as PASSWORD_RESET_JOB,
)
from studyhall.identity.mail_tokens import (
    SEND_EMAIL_JOB as SEND_EMAIL_JOB,
)
from studyhall.identity.mail_tokens import (
    forgot_password as forgot_password,
)
from studyhall.identity.mail_tokens import (
    process_password_reset_request as process_password_reset_request,
)
from studyhall.identity.mail_tokens import (
    render_email as render_email,
)
from studyhall.identity.mail_tokens import (
    resend_verification as resend_verification,
)
from studyhall.identity.mail_tokens import (
    reset_password as reset_password,
)
from studyhall.identity.mail_tokens import (
    send_token_mail as send_token_mail,
)
from studyhall.identity.mail_tokens import (
    verify_email as verify_email,
)
from studyhall.identity.saved_prompts import (
    create_prompt as create_prompt,
)
from studyhall.identity.saved_prompts import (
    delete_prompt as delete_prompt,
)
from studyhall.identity.saved_prompts import (
    get_prompt as get_prompt,
)
from studyhall.identity.saved_prompts import (
    list_prompts as list_prompts,
)
from studyhall.identity.saved_prompts import (
    update_prompt as update_prompt,
)
from studyhall.identity.sign_in import (
    REFRESH_REUSE_GRACE as REFRESH_REUSE_GRACE,
)
from studyhall.identity.sign_in import (
    check_email as check_email,
)
from studyhall.identity.sign_in import (
    login as login,
)
from studyhall.identity.sign_in import (
    logout as logout,
)
from studyhall.identity.sign_in import (
    refresh as refresh,
)
from studyhall.identity.sign_in import (
    register as register,
)
from studyhall.identity.user_admin import (
    access_token_with_claims as access_token_with_claims,
)
from studyhall.identity.user_admin import (
    admin_create_user as admin_create_user,
)
from studyhall.identity.user_admin import (
    admin_delete_user as admin_delete_user,
)
from studyhall.identity.user_admin import (
    admin_get_audit_log as admin_get_audit_log,
)
from studyhall.identity.user_admin import (
    admin_get_user as admin_get_user,
)
from studyhall.identity.user_admin import (
    admin_get_user_by_login as admin_get_user_by_login,
)
from studyhall.identity.user_admin import (
    admin_list_users as admin_list_users,
)
from studyhall.identity.user_admin import (
    admin_reset_password as admin_reset_password,
)
from studyhall.identity.user_admin import (
    admin_update_user as admin_update_user,
)
from studyhall.identity.user_admin import (
    count_active_users as count_active_users,
)
from studyhall.identity.user_admin import (
    count_new_users as count_new_users,
)
from studyhall.identity.user_admin import (
    count_users_by_role as count_users_by_role,
)
from studyhall.identity.user_admin import (
    existing_user_ids as existing_user_ids,
)
from studyhall.identity.user_admin import (
    full_names_by_id as full_names_by_id,
)
from studyhall.identity.user_admin import (
    ids_by_email as ids_by_email,
)
from studyhall.identity.user_admin import (
    usernames_by_id as usernames_by_id,
)

# The audit log is read through the audit domain; the name stays for existing callers.
list_audit_logs = _audit.list_logs
