
from nodecore.secrets import MASK, Secret, redact


def test_secret_never_prints_its_value():
    s = Secret("correct-horse")
    assert str(s) == MASK and "correct-horse" not in repr(s) and f"{s}" == MASK
    assert s.reveal() == "correct-horse"


def test_redact_scrubs_values_echoed_by_tools():
    Secret("echoed-secret-1")
    assert redact("error: bad password echoed-secret-1") == f"error: bad password {MASK}"


def test_mask_url_hides_the_password_a_token_user_and_query_values():
    from nodecore.secrets import mask_url

    assert mask_url("http://user:pa55@ks.example:8080/ks.cfg?token=t0k&arch=x#frag") == \
        f"http://user:{MASK}@ks.example:8080/ks.cfg?token={MASK}&arch={MASK}#frag"
    assert mask_url("https://ghp_tokenvalue@ks.example/ks.cfg") == f"https://{MASK}@ks.example/ks.cfg"
    assert mask_url("http://ks.example/ks.cfg") == "http://ks.example/ks.cfg"
    assert mask_url("/root/ks.cfg") == "/root/ks.cfg"


def test_redact_masks_urls_in_any_text_and_registered_url_parts_elsewhere():
    from nodecore.secrets import register_url

    text = "fetching http://u:url-pass-1@10.0.2.2/ks?token=url-token-1 failed"
    assert "url-pass-1" not in redact(text) and "url-token-1" not in redact(text)
    register_url("http://u:url-pass-2@h/ks.cfg?token=url-token-2")
    # requests quotes only the path of the URL in its errors
    assert redact("Max retries exceeded with url: /ks.cfg?token=url-token-2 (pw url-pass-2)") == \
        f"Max retries exceeded with url: /ks.cfg?token={MASK} (pw {MASK})"


def test_the_key_is_created_once_0600_and_reused(tmp_path, monkeypatch):
    import os
    import stat

    import nodecore.secrets as s

    monkeypatch.setenv("HCINODE_STATE_DIR", str(tmp_path))
    key = s._read_or_create_key()
    path = tmp_path / s.KEY_FILE
    assert len(key) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert s._read_or_create_key() == key  # a second process gets the same key: ids stay stable
    os.chmod(path, 0o644)
    assert s._read_or_create_key() == key and stat.S_IMODE(path.stat().st_mode) == 0o600
    monkeypatch.setenv("HCINODE_STATE_DIR", str(tmp_path / "file-not-dir"))
    (tmp_path / "file-not-dir").write_text("")
    assert len(s._read_or_create_key()) == 32  # nowhere to keep it: a key for this process


def test_stable_salt_follows_password_account_and_key(monkeypatch):
    import nodecore.secrets as s

    salt = s.stable_salt("Same-pass-1", "root")
    assert len(salt) == 16 and salt == s.stable_salt("Same-pass-1", "root")
    assert salt != s.stable_salt("Same-pass-1", "admin") and salt != s.stable_salt("Other-pass-1", "root")
    monkeypatch.setattr(s, "_key", b"x" * 32)
    assert salt != s.stable_salt("Same-pass-1", "root")
