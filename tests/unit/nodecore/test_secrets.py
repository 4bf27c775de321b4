
from nodecore.secrets import MASK, Secret, redact


def test_secret_never_prints_its_value():
    s = Secret("correct-horse")
    assert str(s) == MASK and "correct-horse" not in repr(s) and f"{s}" == MASK
    assert s.reveal() == "correct-horse"


def test_redact_scrubs_values_echoed_by_tools():
    Secret("echoed-secret-1")
    assert redact("error: bad password echoed-secret-1") == f"error: bad password {MASK}"
