import pytest

from minikube_py.image import ImageError
from minikube_py.image.build import DockerIgnore
from minikube_py.image.dockerfile import expand, key_values, parse


def test_continuations_comments_and_forms():
    insts = parse("# syntax comment\nFROM busybox AS base\n\nRUN echo a \\\n  # dropped\n  && echo b\n"
                  'CMD ["sh", "-c", "echo hi"]\nentrypoint echo x\nCOPY --chown=1:2 a b /dst/\n')
    assert [(i.cmd, i.line) for i in insts] == [("FROM", 2), ("RUN", 4), ("CMD", 7), ("ENTRYPOINT", 8),
                                                ("COPY", 9)]
    assert insts[1].raw == "echo a   && echo b"
    assert insts[2].exec_form == ["sh", "-c", "echo hi"]
    assert insts[3].exec_form is None
    assert insts[4].flags == {"chown": "1:2"} and insts[4].raw == "a b /dst/"


@pytest.mark.parametrize(("text", "where"), [
    ("FROM busybox\nFROBNICATE x\n", "Dockerfile:2: unknown instruction 'FROBNICATE'"),
    ("FROM busybox\n\nCOPY --frm=x a b\n", "Dockerfile:3: COPY: unknown or malformed flag"),
    ("FROM busybox\nWORKDIR\n", "Dockerfile:2: WORKDIR: needs an argument"),
    ("FROM busybox\nHEALTHCHECK NONE\n", "Dockerfile:2: HEALTHCHECK is not supported"),
    ("\n\n", "Dockerfile:1: the Dockerfile is empty"),
])
def test_errors_carry_line_and_reason(text, where):
    with pytest.raises(ImageError) as err:
        parse(text)
    assert where in str(err.value)


def test_variable_expansion():
    env = {"A": "1", "EMPTY": ""}
    assert expand("$A-${A}-${B:-dflt}-${A:+alt}-${EMPTY:+x}-\\$A", env) == "1-1-dflt-alt--$A"


def test_env_key_values_both_forms():
    inst = parse('FROM x\nENV A=1 B="two words" C=$A\n')[1]
    assert key_values(inst, {"A": "1"}) == [("A", "1"), ("B", "two words"), ("C", "1")]
    old = parse("FROM x\nENV PATHX /a b\n")[1]
    assert key_values(old, {}) == [("PATHX", "/a b")]


def test_dockerignore_patterns(tmp_path):
    (tmp_path / ".dockerignore").write_text("# c\n*.log\nsecret/\n**/node_modules\n!keep.log\n")
    ig = DockerIgnore(str(tmp_path))
    assert ig.excluded("a.log") and not ig.excluded("keep.log")
    assert ig.excluded("secret/key.pem")
    assert ig.excluded("x/y/node_modules/z.js") and ig.excluded("node_modules")
    assert not ig.excluded("index.sh") and not ig.excluded("dir/a.log")
