"""No secret of a kickstart in an error, a plan, a log kept on the disk or /etc/hcinode/installed;
a '#' never cuts a password silently; the same plaintext password re-runs the same plan."""

from __future__ import annotations

import crypt
import json
import stat
from pathlib import Path

import pytest

from installer import kickstart, sources, target
from nodecore.cli import main
from nodecore.secrets import MASK, Secret
from tests.unit.installer.test_kickstart import DATA

BASE = """ignoredisk --only-use=vda
clearpart --all --initlabel
autopart --type=thinp
network --device=ens3 --hostname=n1.example.com
poweroff
"""


@pytest.fixture(autouse=True)
def _private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HCINODE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HCINODE_LOG_DIR", str(tmp_path / "log"))


def errors(text: str) -> list[str]:
    return [p.render() for p in kickstart.parse(text).report.errors]


@pytest.mark.parametrize("line", ["rootpw --plaintext Hash-in#side-42", "rootpw Hash-in#side-42 --plaintext",
                                  "user --name=admin --plaintext --password=Hash-in#side-42"])
def test_a_hash_inside_an_unquoted_password_is_refused_not_cut(line: str) -> None:
    found = errors(BASE + line + "\n")
    assert any("'#' inside an unquoted password" in e and "single quotes" in e for e in found), found
    assert not any("Hash-in" in e for e in found)


def test_a_quoted_hash_is_the_whole_password_and_a_comment_after_a_space_is_a_comment() -> None:
    quoted = kickstart.parse(BASE + "rootpw --plaintext 'Hash-in#side-42'  # the lab password\n")
    assert quoted.report.ok, quoted.report.render_text()
    assert crypt.crypt("Hash-in#side-42", quoted.config.rootpw.hash) == quoted.config.rootpw.hash


@pytest.mark.parametrize("line, words", [
    ("rootpw --plaintext Two-words-11 second-word-22", ("Two-words-11", "second-word-22")),
    ("user --name=admin --plaintext --password Two-words-11 ab", ("Two-words-11", "ab")),
])
def test_a_password_with_a_space_is_an_error_that_does_not_echo_it(line: str, words: tuple[str, ...]) -> None:
    found = errors(BASE + line + "\n")
    assert any("more than one word" in e and "quote" in e for e in found), found
    assert not any(w in e for w in words for e in found), found


def test_hcinode_section_errors_never_echo_a_join_token() -> None:
    text = BASE + ("rootpw --lock\nsshkey --username=root 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoq"
                   "KLsabgH5C9okWi0dh2l9GKJl x'\n%hcinode\njoin_token: Tok-en.Zq7x9Lp\n"
                   "engine_url = ftp://admin:Url-pass-77@engine.example\n%end\n")
    found = errors(text)
    assert any("expected 'key = value'" in e for e in found) and any("engine_url" in e for e in found)
    assert not any("Tok-en" in e or "Url-pass-77" in e for e in found), found


def test_the_same_plaintext_kickstart_gives_the_same_plan_and_a_new_password_a_new_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def plan_id(password: str) -> str:
        ks = tmp_path / "ks.cfg"
        ks.write_text(BASE + f"rootpw --plaintext '{password}'\n")
        assert main(["install", "--kickstart", str(ks), "--dry-run", "--json",
                     "--facts", str(DATA / "facts" / "qemu-virtio.json")]) == 0
        out = capsys.readouterr().out
        assert password not in out
        return str(json.loads(out)["id"])

    first = plan_id("Resume-pass-2026")
    assert plan_id("Resume-pass-2026") == first  # a re-run resumes from the journal of this plan
    assert plan_id("Another-pass-2027") != first  # and a new password is never skipped as done


def test_kickstart_url_credentials_are_masked_in_descriptions_and_errors() -> None:
    url = "http://ks-user:Src-pass-31@127.0.0.1:9/ks.cfg?token=Src-token-31"
    source = sources.parse_source(url)
    assert "Src-pass-31" not in source.describe() and "Src-token-31" not in source.describe()
    with pytest.raises(sources.SourceError) as info:
        sources.fetch_http(url, attempts=1, timeout=2)
    assert "Src-pass-31" not in str(info.value) and "Src-token-31" not in str(info.value)
    assert f"ks-user:{MASK}@127.0.0.1:9" in str(info.value)


def test_the_installed_marker_keeps_the_kickstart_url_without_its_credentials(tmp_path: Path) -> None:
    from nodecore.runner import LocalRunner

    target.reset_identity(LocalRunner(), {"target": str(tmp_path), "lang": "C.UTF-8", "hostname": "n1",
                                          "source": "https://u:Mark-pass-5@ks.example/n1.ks?token=Mark-tok-5"})
    installed = json.loads((tmp_path / "etc/hcinode/installed").read_text())
    assert installed["kickstart"] == f"https://u:{MASK}@ks.example/n1.ks?token={MASK}"


def test_only_logs_that_cannot_hold_secrets_are_kept_on_the_target(tmp_path: Path) -> None:
    from nodecore.runner import LocalRunner

    Secret("Kept-secret-99")  # a password of this install (kickstart.parse registers them so)
    logs, disk = tmp_path / "logs", tmp_path / "target"
    logs.mkdir()
    (logs / "hcinode-ks.cfg").write_text("rootpw --iscrypted $6$salt$hash\n")
    (logs / "ks-script-post-1.log").write_text("the script echoed Kept-secret-99\n")
    (logs / "post-1.script").write_text("echo Kept-secret-99 | chpasswd\n")
    (logs / "something-else.txt").write_text("unknown\n")
    hcinode_log = tmp_path / "hcinode.log"
    hcinode_log.write_text("INFO hcinode: started\n")
    dest = Path(target.keep_logs_on_target(LocalRunner(), str(disk), str(logs), [str(hcinode_log)]))
    assert sorted(p.name for p in dest.iterdir()) == ["hcinode-ks.cfg", "hcinode.log", "ks-script-post-1.log"]
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700
    for kept in dest.iterdir():
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        assert "Kept-secret-99" not in kept.read_text()


JOIN_TOKEN = "fbj001.q2w3e4r5t6y7u8i9o0p1a2s3d4f5g6h7"


def test_hcinode_join_keys_become_a_0600_first_boot_join_file(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from agent.join import request_from_file
    from nodecore.runner import LocalRunner

    ks = tmp_path / "ks.cfg"
    pin = "sha256:" + ":".join(["AB"] * 32)
    ks.write_text(BASE + "rootpw --plaintext 'Resume-pass-2026'\n%hcinode\nengine_url = https://engine.example:8443\n"
                  f"join_token = {JOIN_TOKEN}\nca_fingerprint = {pin}\n%end\n")
    assert main(["install", "--kickstart", str(ks), "--dry-run", "--json",
                 "--facts", str(DATA / "facts" / "qemu-virtio.json")]) == 0
    out = capsys.readouterr().out
    assert JOIN_TOKEN not in out
    step = next(s for s in json.loads(out)["steps"] if s["action"] == "first_boot_join")
    assert step["params"] == {"target": "/run/hcinode/target", "engine_url": "https://engine.example:8443",
                              "ca_pin": "sha256:" + "ab" * 32, "token": MASK}
    target.first_boot_join(LocalRunner(), {"target": str(tmp_path), "engine_url": "https://engine.example:8443",
                                           "ca_pin": "sha256:" + "ab" * 32, "token": Secret(JOIN_TOKEN)})
    path = tmp_path / "var/lib/hcinode/firstboot-join.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    request = request_from_file(str(path))
    assert request.token.reveal() == JOIN_TOKEN and request.urls == ("https://engine.example:8443",)


def test_hcinode_join_keys_go_together_and_the_token_has_its_form() -> None:
    found = errors(BASE + "rootpw --lock\nsshkey --username=root 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0Sd"
                   "G6UOoqKLsabgH5C9okWi0dh2l9GKJl x'\n%hcinode\njoin_token = Not-A-Token-77\n%end\n")
    assert any("join_token must be ID.SECRET" in e for e in found)
    assert any("needs engine_url, join_token, ca_fingerprint together; missing engine_url, ca_fingerprint" in e
               for e in found)
    assert not any("Not-A-Token-77" in e for e in found)


def test_an_included_file_gets_the_same_password_checks_as_the_kickstart(tmp_path: Path) -> None:
    """The '#' cut and the secret scan ran on the main text only: in an %include a cut password
    was silently accepted and pykickstart's "unrecognized arguments" echoed a password's words."""
    inc = tmp_path / "accounts.ks"
    inc.write_text("rootpw --plaintext Inc-hash#cut-42\nuser --name=admin --plaintext --password Inc-two-11 wd2x\n")
    parsed = kickstart.parse(BASE + f"%include {inc}\n", follow_includes=True)
    found = [f"{p.field}: {p.message}" for p in parsed.report.errors]
    line = len(BASE.splitlines()) + 1  # the kickstart's %include line
    assert any(e.startswith(f"kickstart:{line}") and "'#' inside an unquoted password" in e
               and f"in %include {inc} at its line 1" in e for e in found), found
    assert any("more than one word" in e and "at its line 2" in e for e in found), found
    assert not any(w in e for w in ("Inc-hash", "Inc-two-11", "wd2x") for e in found), found


def test_a_plan_holds_the_kickstart_url_without_its_credentials_and_still_tells_urls_apart() -> None:
    from installer.plan import build_plan
    from installer.storage import resolve_layout
    from nodecore.facts import HostFacts
    from nodecore.report import ValidationReport

    parsed = kickstart.parse(BASE + "rootpw --lock\nsshkey --username=root 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA"
                             "IOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl x'\n")
    facts = HostFacts.load(str(DATA / "facts" / "qemu-virtio.json"))
    layout = resolve_layout(parsed.config, facts, ValidationReport())
    assert layout is not None

    def plan_of(source: str) -> tuple[str, str]:
        built = build_plan(parsed.config, layout, facts, source=source)
        raw = json.dumps({"summary": built.summary, "params": [dict(s.params) for s in built.steps]}, default=str)
        return built.id, raw

    first, raw = plan_of("https://ks:Plan-pass-8@ks.example/n1.ks?token=Plan-tok-8")
    assert "Plan-pass-8" not in raw and "Plan-tok-8" not in raw and f"ks:{MASK}@ks.example/n1.ks" in raw
    assert plan_of("https://ks:Plan-pass-8@ks.example/n1.ks?token=Plan-tok-8")[0] == first  # resumable
    assert plan_of("https://ks:Plan-pass-8@ks.example/n2.ks?token=Plan-tok-8")[0] != first  # another kickstart
    assert "/srv/n1.ks" in plan_of("/srv/n1.ks")[1]  # a path is kept as it is


def test_the_rerun_advice_of_a_failed_install_shows_the_kickstart_url_masked() -> None:
    from installer import recovery

    lines = recovery.failure_lines(step_index=2, total=9, step_title="x", cause="boom", onerror=[], kept_on="",
                                   log_path="", kickstart="http://u:Rerun-pass-4@ks.example/a.ks?t=Rerun-tok-4")
    assert not any("Rerun-" in line for line in lines), lines
    assert any(f"--kickstart http://u:{MASK}@ks.example/a.ks" in line for line in lines), lines
