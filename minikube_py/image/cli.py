"""`mkpy image ...`: docker's image commands over ImageStore.

    mkpy image build -t myregistry.com/myapp:v1.0 examples/seed/app
    mkpy image push myregistry.com/myapp:v1.0
    mkpy image ls
The store lives under --root (default $MKPY_ROOT or /var/lib/mkpy); registry
mirrors come from --hosts-dir (default <root>/certs.d, see hosts.py).
"""

from __future__ import annotations

import datetime
import json
import sys

import click

from minikube_py.image import reference
from minikube_py.image.errors import ImageError
from minikube_py.image.registry import Credentials
from minikube_py.image.store import ImageStore, default_root


class _Group(click.Group):
    """Turns ImageError into `Error: <message>` and exit status 1, with no traceback."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except ImageError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Group)
@click.option("--root", envvar="MKPY_ROOT", default=None, help="node state root [default: /var/lib/mkpy]")
@click.option("--hosts-dir", envvar="MKPY_HOSTS_DIR", default=None,
              help="registry hosts/mirrors directory [default: ROOT/certs.d]")
@click.pass_context
def image(ctx: click.Context, root: str | None, hosts_dir: str | None) -> None:
    """Build, pull, push and manage container images."""
    ctx.obj = {"root": root or default_root(), "hosts_dir": hosts_dir}


def _store(ctx: click.Context) -> ImageStore:
    return ImageStore(ctx.obj["root"], ctx.obj["hosts_dir"])


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.3g}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1000
    return f"{n}"


def _ago(created: str | None) -> str:
    if not created:
        return "N/A"
    try:
        when = datetime.datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return "N/A"
    secs = (datetime.datetime.now(datetime.UTC) - when).total_seconds()
    for size, name in ((365 * 86400, "year"), (30 * 86400, "month"), (7 * 86400, "week"),
                       (86400, "day"), (3600, "hour"), (60, "minute")):
        if secs >= size:
            n = int(secs // size)
            return f"{n} {name}{'s' if n > 1 else ''} ago"
    return "Less than a minute ago" if secs >= 0 else "in the future"


@image.command()
@click.option("-t", "--tag", "tags", multiple=True, help="NAME[:TAG] for the result (repeatable)")
@click.option("-f", "--file", "dockerfile", default=None, help="Dockerfile [default: DIR/Dockerfile]")
@click.option("--build-arg", "build_args", multiple=True, help="K=V for an ARG (repeatable)")
@click.option("--no-cache", is_flag=True, help="run every step, ignoring the build cache")
@click.option("-q", "--quiet", is_flag=True, help="print only the image id")
@click.argument("context", type=click.Path(exists=True, file_okay=False))
@click.pass_context
def build(ctx, tags, dockerfile, build_args, no_cache, quiet, context) -> None:
    """Build an image from a Dockerfile in CONTEXT."""
    args = {}
    for item in build_args:
        k, eq, v = item.partition("=")
        if not eq:
            raise click.BadParameter(f"{item!r} is not K=V", param_hint="--build-arg")
        args[k] = v
    out = (lambda line: None) if quiet else click.echo
    result = _store(ctx).build(context, dockerfile_path=dockerfile, tags=list(tags), build_args=args,
                               no_cache=no_cache, out=out)
    if quiet:
        click.echo(result.id)


def _creds(value: str | None) -> Credentials | None:
    return Credentials.parse(value)


@image.command()
@click.argument("ref")
@click.option("--creds", default=None, help="USER:PASSWORD for the registry")
@click.option("-q", "--quiet", is_flag=True, help="no progress bars")
@click.pass_context
def pull(ctx, ref, creds, quiet) -> None:
    """Pull an image from a registry (mirrors per the hosts directory)."""
    img = _store(ctx).pull(ref, creds=_creds(creds), progress=False if quiet else None)
    s = img.stats
    click.echo(f"{reference.normalize(ref)}: {img.digest}")
    click.echo(f"fetched {s.blobs_fetched} blobs ({_size(s.bytes_transferred)}), "
               f"{s.blobs_skipped} already present, from {s.endpoint}")


@image.command()
@click.argument("ref")
@click.argument("target", required=False)
@click.option("--creds", default=None, help="USER:PASSWORD for the registry")
@click.option("--chunk-size", type=int, default=None, help="upload in PATCH chunks of this many bytes")
@click.option("-q", "--quiet", is_flag=True, help="no progress bars")
@click.pass_context
def push(ctx, ref, target, creds, chunk_size, quiet) -> None:
    """Push an image to its registry (or to TARGET)."""
    s = _store(ctx).push(ref, target=target, creds=_creds(creds), chunk_size=chunk_size,
                         progress=False if quiet else None)
    click.echo(f"{reference.normalize(target or ref)}: digest: {s.digest}")
    click.echo(f"uploaded {s.blobs_fetched} blobs ({_size(s.bytes_transferred)}), "
               f"{s.blobs_skipped} already in the registry ({s.endpoint})")


@image.command(name="ls")
@click.option("-q", "--quiet", is_flag=True, help="only image ids")
@click.option("--digests", is_flag=True, help="show manifest digests")
@click.pass_context
def ls(ctx, quiet, digests) -> None:
    """List images: REPOSITORY TAG IMAGE ID CREATED SIZE."""
    rows = []
    for name, img in _store(ctx).list():
        repo, tag = ("<none>", "<none>")
        if name:
            r = reference.parse(name)
            repo, tag = r.familiar, r.tag or "<none>"
        rows.append([repo, tag] + ([img.digest] if digests else [])
                    + [img.id[7:19], _ago(img.created), _size(img.size)])
    if quiet:
        for row in rows:
            click.echo(row[-3])
        return
    header = ["REPOSITORY", "TAG"] + (["DIGEST"] if digests else []) + ["IMAGE ID", "CREATED", "SIZE"]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("   ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


@image.command()
@click.argument("refs", nargs=-1, required=True)
@click.pass_context
def inspect(ctx, refs) -> None:
    """Show images as JSON (id, tags, digests, config, layers)."""
    store = _store(ctx)
    out = []
    for ref in refs:
        img = store.resolve(ref)
        repos = sorted({reference.parse(t).repository for t in img.tags})
        out.append({"Id": img.id, "RepoTags": img.tags, "RepoDigests": [f"{r}@{img.digest}" for r in repos],
                    "Digest": img.digest, "Created": img.created,
                    "Architecture": img.image_config.get("architecture"),
                    "Os": img.image_config.get("os"), "Size": img.size, "Config": img.config,
                    "RootFS": img.image_config.get("rootfs"), "Layers": [d["digest"] for d in img.layers],
                    "History": img.image_config.get("history", [])})
    click.echo(json.dumps(out, indent=2))


@image.command()
@click.argument("source")
@click.argument("target")
@click.pass_context
def tag(ctx, source, target) -> None:
    """Give SOURCE another name TARGET."""
    _store(ctx).tag(source, target)


@image.command()
@click.argument("refs", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="remove even if several tags or a container use it")
@click.pass_context
def rm(ctx, refs, force) -> None:
    """Remove images (untag; delete what nothing else uses)."""
    store = _store(ctx)
    for ref in refs:
        for line in store.remove(ref, force=force):
            click.echo(line)


@image.command()
@click.option("-f", "--force", is_flag=True, help="(accepted for docker compatibility; never asks)")
@click.pass_context
def prune(ctx, force) -> None:
    """Remove untagged images and the build cache; free unreferenced layers."""
    deleted, freed = _store(ctx).prune()
    for line in deleted:
        click.echo(line)
    click.echo(f"Total reclaimed space: {_size(freed)}")


@image.command(name="import")
@click.argument("path", type=click.Path(exists=True))
@click.option("-t", "--tag", default=None, help="name for the image (one-image archives)")
@click.pass_context
def import_(ctx, path, tag) -> None:
    """Import an OCI image layout (dir or tar) or a `docker save` archive."""
    for img in _store(ctx).import_archive(path, tag):
        click.echo(f"Loaded image: {', '.join(img.tags) or img.digest}")


@image.command()
@click.argument("refs", nargs=-1, required=True)
@click.option("-o", "--output", required=True, help="OCI layout directory, or a .tar file")
@click.pass_context
def export(ctx, refs, output) -> None:
    """Export images as an OCI image layout."""
    _store(ctx).export(list(refs), output)
    click.echo(f"exported {len(refs)} image(s) to {output}")


if __name__ == "__main__":
    sys.exit(image())
