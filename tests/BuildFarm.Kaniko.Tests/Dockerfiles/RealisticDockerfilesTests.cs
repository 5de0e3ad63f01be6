using BuildFarm.Kaniko.Dockerfiles;

namespace BuildFarm.Kaniko.Tests.Dockerfiles;

/// <summary>Dockerfiles written in the style of common public ones. Written for these tests (not copied): each
/// exercises the constructs real files use (multi-stage, cache mounts, heredocs, apt-get chains, ARG-based FROM,
/// non-root users) and must give no false alarm.</summary>
public sealed class RealisticDockerfilesTests
{
    private const string NodeMultiStage = """
        # syntax=docker/dockerfile:1.7
        ARG NODE_VERSION=20.11.1

        FROM node:${NODE_VERSION}-alpine AS deps
        WORKDIR /app
        COPY package.json package-lock.json ./
        RUN --mount=type=cache,target=/root/.npm \
            npm ci --omit=dev

        FROM node:${NODE_VERSION}-alpine AS build
        WORKDIR /app
        COPY --from=deps /app/node_modules ./node_modules
        COPY . .
        # Build the bundle; the workspace plugin reads /workspace/config only in CI
        RUN npm run build \
         && npm prune --omit=dev \
         && rm -rf src tests .cache

        FROM node:${NODE_VERSION}-alpine AS runtime
        ENV NODE_ENV=production PORT=3000
        WORKDIR /app
        RUN addgroup -S app && adduser -S -G app -h /home/app app
        COPY --from=build --chown=app:app /app/dist ./dist
        COPY --from=build --chown=app:app /app/node_modules ./node_modules
        USER app
        EXPOSE 3000
        HEALTHCHECK --interval=30s --timeout=3s CMD wget -qO- http://localhost:3000/health || exit 1
        CMD ["node", "dist/server.js"]
        """;

    private const string PythonAptHeredoc = """
        FROM python:3.12-slim-bookworm

        ENV PYTHONDONTWRITEBYTECODE=1 \
            PYTHONUNBUFFERED=1 \
            VIRTUAL_ENV=/opt/venv
        ENV PATH="$VIRTUAL_ENV/bin:$PATH"

        RUN <<EOF
        set -eux
        apt-get update
        apt-get install -y --no-install-recommends build-essential curl git
        rm -rf /var/lib/apt/lists/*
        python -m venv "$VIRTUAL_ENV"
        EOF

        WORKDIR /srv/app
        COPY requirements.txt .
        RUN --mount=type=cache,target=/root/.cache/pip pip install -r requirements.txt

        COPY <<-"EOF" /etc/app/settings.toml
        	[server]
        	root = "/workspace/ignored-by-app"
        	EOF

        COPY . .
        RUN useradd --create-home --home-dir /home/app --shell /bin/bash app \
            && chown -R app:app /srv/app
        USER app
        CMD ["gunicorn", "-b", "0.0.0.0:8000", "app.wsgi:application"]
        """;

    private const string GoDistroless = """
        # syntax=docker/dockerfile:1
        FROM --platform=$BUILDPLATFORM golang:1.22-alpine AS build
        ARG TARGETOS
        ARG TARGETARCH
        WORKDIR /src
        RUN --mount=type=cache,target=/go/pkg/mod \
            --mount=type=bind,source=go.sum,target=go.sum \
            --mount=type=bind,source=go.mod,target=go.mod \
            go mod download -x
        RUN --mount=type=cache,target=/go/pkg/mod \
            --mount=type=bind,target=. \
            CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags="-s -w" -o /out/server ./cmd/server

        FROM gcr.io/distroless/static-debian12:nonroot
        COPY --from=build /out/server /server
        USER nonroot:nonroot
        ENTRYPOINT ["/server"]
        """;

    private const string JupyterLike = """
        # Image built on top of a notebook stack
        ARG REGISTRY=quay.io
        ARG OWNER=jupyter
        ARG BASE_IMAGE=$REGISTRY/$OWNER/scipy-notebook:2024-10-07
        FROM $BASE_IMAGE

        LABEL maintainer="Data Platform <data@example.com>"
        SHELL ["/bin/bash", "-o", "pipefail", "-c"]

        USER root
        RUN apt-get update --yes && \
            apt-get install --yes --no-install-recommends \
            # for pdf export
            texlive-xetex \
            texlive-fonts-recommended \
            pandoc && \
            apt-get clean && rm -rf /var/lib/apt/lists/*

        USER ${NB_UID}
        RUN mamba install --yes 'altair' 'polars' && \
            mamba clean --all -f -y && \
            fix-permissions "${CONDA_DIR}" && \
            fix-permissions "/home/${NB_USER}"

        COPY --chown=${NB_UID}:${NB_GID} notebooks/ "/home/${NB_USER}/work/"
        WORKDIR "${HOME}"
        """;

    private const string DevcontainerLike = """
        FROM mcr.microsoft.com/devcontainers/base:1.0-bookworm
        ARG USERNAME=vscode
        ARG USER_UID=1000
        ARG USER_GID=$USER_UID
        RUN groupmod --gid $USER_GID $USERNAME \
            && usermod --uid $USER_UID --gid $USER_GID $USERNAME \
            && mkdir -p /workspaces /opt/workspace-tools /var/cache/kaniko-cache \
            && chown -R $USER_UID:$USER_GID /workspaces /home/$USERNAME
        RUN echo "cd /workspace" >> /home/$USERNAME/.bashrc \
            && grep -q workspace /etc/profile || echo 'export WS=/workspace' >> /etc/profile.d/ws.sh
        WORKDIR /workspaces
        """;

    private const string NginxSpa = """
        FROM node:20.11-alpine AS build
        WORKDIR /app
        COPY . .
        RUN npm ci && npm run build

        FROM nginx:1.27-alpine
        COPY --from=build /app/dist /usr/share/nginx/html
        COPY nginx.conf /etc/nginx/conf.d/default.conf
        RUN ln -sf /dev/stdout /var/log/nginx/access.log \
            && ln -sf /dev/stderr /var/log/nginx/error.log
        EXPOSE 80
        STOPSIGNAL SIGQUIT
        """;

    private const string WindowsBacktick = """
        # escape=`
        FROM mcr.microsoft.com/dotnet/sdk:8.0-nanoserver-ltsc2022 AS build
        WORKDIR C:\src
        COPY . .
        RUN dotnet publish -c Release `
            -o C:\out
        FROM mcr.microsoft.com/dotnet/aspnet:8.0-nanoserver-ltsc2022
        COPY --from=build C:\out C:\app
        ENTRYPOINT ["dotnet", "C:\\app\\api.dll"]
        """;

    public static TheoryData<string, string> CleanFiles => new()
    {
        { "node multi-stage", NodeMultiStage },
        { "python with apt-get and heredocs", PythonAptHeredoc },
        { "go builder + distroless", GoDistroless },
        { "jupyter-like ARG BASE_IMAGE", JupyterLike },
        { "devcontainer-like /workspaces", DevcontainerLike },
        { "nginx single-page app", NginxSpa },
        { "windows with backtick escape", WindowsBacktick },
    };

    [Theory]
    [MemberData(nameof(CleanFiles))]
    public void Check_RealisticDockerfile_HasNoFindings(string name, string text)
    {
        var findings = DockerfilePreflight.Check(text);

        Assert.True(findings.Count == 0, $"{name}: " + string.Join("\n", findings.Select(f => $"{f.Line} {f.Code} {f.Message}")));
    }

    [Fact]
    public void Parse_NodeMultiStage_HasThreeStagesAndCorrectLines()
    {
        var stages = DockerfileStages.Resolve(DockerfileParser.Parse(NodeMultiStage));

        Assert.Equal(["deps", "build", "runtime"], stages.Stages.Select(s => s.Name));
        Assert.All(stages.Stages, s => Assert.Equal("node:20.11.1-alpine", s.BaseImage));
        Assert.Equal([4, 10, 19], stages.Stages.Select(s => s.From.Line));
        var prune = stages.Stages[1].Steps.Single(s => s.Instruction.Keyword == "RUN");
        Assert.Equal(15, prune.Instruction.Line);
        Assert.Equal("/app", prune.Workdir);
    }

    [Fact]
    public void Parse_PythonHeredocs_KeepLinesAfterThem()
    {
        var file = DockerfileParser.Parse(PythonAptHeredoc);

        var lines = file.Instructions.Select(i => (i.Line, i.Keyword)).ToList();
        Assert.Contains((8, "RUN"), lines);
        Assert.Contains((16, "WORKDIR"), lines);
        Assert.Contains((20, "COPY"), lines);
        Assert.Contains((25, "COPY"), lines);
        Assert.Contains((29, "CMD"), lines);
        Assert.Equal("[server]\nroot = \"/workspace/ignored-by-app\"\n", file.Instructions.Single(i => i.Line == 20).Heredocs[0].Body);
    }

    [Fact]
    public void Check_JupyterLikeWithFloatingBaseOverride_WarnsOnFromLine()
    {
        var findings = DockerfilePreflight.Check(JupyterLike, new PreflightOptions
        {
            BuildArgs = new Dictionary<string, string> { ["BASE_IMAGE"] = "quay.io/jupyter/scipy-notebook" },
        });

        var finding = Assert.Single(findings);
        Assert.Equal((5, PreflightCodes.FloatingBaseTag), (finding.Line, finding.Code));
    }

    [Fact]
    public void Check_PytorchStyleWorkspace_IsReportedOnEachOffendingLine()
    {
        const string text = """
            FROM nvcr.io/nvidia/pytorch:24.05-py3
            ENV PROJECT=/workspace/project
            RUN mkdir -p $PROJECT && pip install --no-cache-dir lightning
            WORKDIR $PROJECT
            COPY . .
            CMD ["python", "train.py"]
            """;

        // With the farm's contexts (nothing in /workspace) these only warn; with the context in /workspace they break it.
        var findings = DockerfilePreflight.Check(text);
        var inWorkspace = DockerfilePreflight.Check(text, new PreflightOptions { Context = "dir:///workspace" });

        Assert.Equal([(3, PreflightCodes.WritesIntoWorkspace), (4, PreflightCodes.WritesIntoWorkspace), (5, PreflightCodes.WritesIntoWorkspace)],
            findings.Select(f => (f.Line, f.Code)));
        Assert.Equal([(3, PreflightCodes.RunTouchesKanikoPath), (4, PreflightCodes.WorkdirInKanikoPath), (5, PreflightCodes.CopyIntoKanikoPath)],
            inWorkspace.Select(f => (f.Line, f.Code)));
    }
}
