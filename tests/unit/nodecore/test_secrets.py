import json

from nodecore.secrets import MASK, Secret, redact, redact_data


def test_secret_never_prints_its_value():
    s = Secret("correct-horse")
    assert str(s) == MASK and "correct-horse" not in repr(s) and f"{s}" == MASK
    assert s.reveal() == "correct-horse"


def test_redact_data_masks_secret_named_keys_and_values():
    data = {"admin_password": "pw1-abc", "join_token": "tok", "user": "root",
            "nested": [{"private_key": "-----BEGIN"}], "obj": Secret("xyz-123")}
    out = redact_data(data)
    assert out == {"admin_password": MASK, "join_token": MASK, "user": "root",
                   "nested": [{"private_key": MASK}], "obj": MASK}
    assert "pw1-abc" not in json.dumps(out)


def test_redact_scrubs_values_echoed_by_tools():
    Secret("echoed-secret-1")
    assert redact("error: bad password echoed-secret-1") == f"error: bad password {MASK}"
