"""What a pipeline changes and checks between a build and a deploy, without AWS or the Pulumi CLI.

`stackfile`: one app's image in a stack file, pinned by digest (`release`), and moved on to the next stage
unchanged (`promote`); only that image's characters change. `preview`: the change a `pulumi preview --json`
shows, and whether a later preview still makes it. Imports `mercur.config` only.
"""
