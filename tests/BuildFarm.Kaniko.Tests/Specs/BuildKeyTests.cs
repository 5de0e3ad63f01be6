using System.Security.Cryptography;
using System.Text;
using BuildFarm.Contracts;
using BuildFarm.Kaniko.Specs;

namespace BuildFarm.Kaniko.Tests.Specs;

public sealed class BuildKeyTests
{
    private const string Executor = SampleSpecs.PinnedExecutor;

    [Fact]
    public void Compute_MinimalSpec_MatchesPinnedVector()
    {
        // Pinned on 2026-11-28 with coreutils, independently of this code:
        // printf 'buildfarm-build-key/v1\ncontext=33:s3://ctx-bucket/builds/app.tar.gz\ncontext-sub-path=0:\n
        //   dockerfile=10:Dockerfile\ntarget=0:\nbuild-args#0\ndestinations#1\n31:registry.example.com/team/app:1\n
        //   labels#0\nplatform=0:\nexecutor-image=110:gcr.io/kaniko-project/executor:v1.24.0@sha256:4e7a…9698\n' | sha256sum
        // (one printf, the lines joined; the digest written out in full). Changing it breaks every stored dedupe entry:
        // bump BuildKey.Version instead.
        Assert.Equal("9d3b9b953dc0f3dd29132635959ae3f2378d134d06a55ba976045022f919bad5", BuildKey.Compute(SampleSpecs.Minimal(), Executor));
    }

    [Fact]
    public void Compute_FullSpec_IsSha256OfHandWrittenCanonicalForm()
    {
        // Built here by hand from docs/pod-spec.md, not by the code under test: byte lengths counted in UTF-8.
        var expected = string.Join("", [
            "buildfarm-build-key/v1\n",
            "context=49:https://artifacts.example.com/ctx/app-1234.tar.gz\n",
            "context-sub-path=12:services/api\n",
            "dockerfile=17:docker/Dockerfile\n",
            "target=7:runtime\n",
            "build-args#2\n",
            "4:BASE11:alpine:3.19\n",
            "7:VERSION5:1.2.3\n",
            "destinations#2\n",
            "35:registry.example.com/team/api:1.2.3\n",
            "36:registry.example.com/team/api:latest\n",
            "labels#1\n",
            "33:org.opencontainers.image.revision6:abc123\n",
            "platform=11:linux/arm64\n",
            $"executor-image=110:{Executor}\n",
        ]);
        var expectedKey = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(expected)));

        Assert.Equal(expected, BuildKey.CanonicalForm(SampleSpecs.Full(), Executor));
        Assert.Equal(expectedKey, BuildKey.Compute(SampleSpecs.Full(), Executor));
    }

    [Fact]
    public void Compute_ReturnsLowerCaseHexOf64()
    {
        var key = BuildKey.Compute(SampleSpecs.Full(), Executor);

        Assert.True(BuildKey.IsWellFormed(key));
        Assert.Matches("^[0-9a-f]{64}$", key);
    }

    [Fact]
    public void Compute_MapAndListOrder_DoesNotMatter()
    {
        var a = SampleSpecs.Full() with
        {
            BuildArgs = new Dictionary<string, string> { ["A"] = "1", ["B"] = "2", ["C"] = "3" },
            Labels = new Dictionary<string, string> { ["x"] = "1", ["y"] = "2" },
            Destinations = ["registry.example.com/team/api:1", "registry.example.com/team/api:2"],
        };
        var b = a with
        {
            BuildArgs = new Dictionary<string, string> { ["C"] = "3", ["A"] = "1", ["B"] = "2" },
            Labels = new Dictionary<string, string> { ["y"] = "2", ["x"] = "1" },
            Destinations = ["registry.example.com/team/api:2", "registry.example.com/team/api:1", "registry.example.com/team/api:2"],
        };

        Assert.Equal(BuildKey.Compute(a, Executor), BuildKey.Compute(b, Executor));
    }

    public static TheoryData<string, Func<BuildSpec, BuildSpec>> Equivalent => new()
    {
        { "./Dockerfile is Dockerfile", s => s with { Dockerfile = "./docker/./Dockerfile" } },
        { "a/../ is resolved", s => s with { Dockerfile = "docker/x/../Dockerfile" } },
        { "sub-path trailing slash", s => s with { ContextSubPath = "services/api/" } },
        { "short Docker Hub destination", s => s with { Destinations = ["registry.example.com/team/api:1.2.3", "registry.example.com/team/api:latest", "registry.example.com/team/api:latest"] } },
        { "resources do not change the image", s => s with { Resources = new BuildResources { CpuLimit = "16" } } },
        { "deadline does not change the image", s => s with { DeadlineSeconds = 60 } },
        { "cache does not change the image", s => s with { Cache = false, CacheRepo = null } },
        { "host case", s => s with { Context = "https://ARTIFACTS.example.com/ctx/app-1234.tar.gz" } },
    };

    [Theory]
    [MemberData(nameof(Equivalent))]
    public void Compute_EquivalentSpec_SameKey(string name, Func<BuildSpec, BuildSpec> change) =>
        Assert.True(BuildKey.Compute(SampleSpecs.Full(), Executor) == BuildKey.Compute(change(SampleSpecs.Full()), Executor), name);

    [Fact]
    public void Compute_DockerHubShortAndLongForms_SameKey()
    {
        var shortForm = SampleSpecs.Minimal() with { Destinations = ["acme/app:1"] };
        var longForm = SampleSpecs.Minimal() with { Destinations = ["docker.io/acme/app:1"] };

        Assert.Equal(BuildKey.Compute(shortForm, Executor), BuildKey.Compute(longForm, Executor));
    }

    [Fact]
    public void Compute_SubPathRootForms_SameKey()
    {
        var keys = new[] { null, "", ".", "./" }
            .Select(p => BuildKey.Compute(SampleSpecs.Minimal() with { ContextSubPath = p }, Executor))
            .Distinct()
            .ToList();

        Assert.Single(keys);
    }

    [Fact]
    public void Compute_GitContextPinnedToCommit_IgnoresBranchName()
    {
        const string commit = "0123456789abcdef0123456789abcdef01234567";
        var main = SampleSpecs.Minimal() with { Context = $"git://github.com/acme/app.git#refs/heads/main#{commit}" };
        var release = SampleSpecs.Minimal() with { Context = $"git://github.com/acme/app.git#refs/heads/release#{commit}" };
        var otherCommit = SampleSpecs.Minimal() with { Context = "git://github.com/acme/app.git#refs/heads/main#fedcba9876543210fedcba9876543210fedcba98" };

        Assert.Equal(BuildKey.Compute(main, Executor), BuildKey.Compute(release, Executor));
        Assert.NotEqual(BuildKey.Compute(main, Executor), BuildKey.Compute(otherCommit, Executor));
    }

    public static TheoryData<string, Func<BuildSpec, BuildSpec>> Different => new()
    {
        { "context", s => s with { Context = "https://artifacts.example.com/ctx/app-1235.tar.gz" } },
        { "sub-path", s => s with { ContextSubPath = "services/web" } },
        { "no sub-path", s => s with { ContextSubPath = null } },
        { "dockerfile", s => s with { Dockerfile = "docker/Dockerfile.prod" } },
        { "target", s => s with { Target = "debug" } },
        { "no target", s => s with { Target = null } },
        { "build arg value", s => s with { BuildArgs = new Dictionary<string, string> { ["VERSION"] = "1.2.4", ["BASE"] = "alpine:3.19" } } },
        { "build arg name", s => s with { BuildArgs = new Dictionary<string, string> { ["VERSIONS"] = "1.2.3", ["BASE"] = "alpine:3.19" } } },
        { "build arg removed", s => s with { BuildArgs = new Dictionary<string, string> { ["BASE"] = "alpine:3.19" } } },
        { "destination added", s => s with { Destinations = [.. s.Destinations, "registry.example.com/team/api:extra"] } },
        { "destination tag", s => s with { Destinations = ["registry.example.com/team/api:1.2.4", "registry.example.com/team/api:latest"] } },
        { "label value", s => s with { Labels = new Dictionary<string, string> { ["org.opencontainers.image.revision"] = "abc124" } } },
        { "platform", s => s with { Platform = "linux/amd64" } },
        { "no platform", s => s with { Platform = null } },
    };

    [Theory]
    [MemberData(nameof(Different))]
    public void Compute_FieldChanged_DifferentKey(string field, Func<BuildSpec, BuildSpec> change) =>
        Assert.True(BuildKey.Compute(SampleSpecs.Full(), Executor) != BuildKey.Compute(change(SampleSpecs.Full()), Executor), field);

    [Fact]
    public void Compute_ExecutorImageChanged_DifferentKey()
    {
        var other = "gcr.io/kaniko-project/executor:v1.23.2@sha256:9e69fd4330ec887829c780f5126dd80edc663df6def362cd22e79bcdf00ac53f";

        Assert.NotEqual(BuildKey.Compute(SampleSpecs.Full(), Executor), BuildKey.Compute(SampleSpecs.Full(), other));
    }

    [Fact]
    public void Compute_ValuesShiftedAcrossBoundaries_DifferentKey()
    {
        var a = SampleSpecs.Minimal() with { BuildArgs = new Dictionary<string, string> { ["a"] = "bc" } };
        var b = SampleSpecs.Minimal() with { BuildArgs = new Dictionary<string, string> { ["ab"] = "c" } };
        var c = SampleSpecs.Minimal() with { Labels = new Dictionary<string, string> { ["k"] = "v\nw" } };
        var d = SampleSpecs.Minimal() with { Labels = new Dictionary<string, string> { ["k"] = "v", ["w"] = "" } };
        var e = SampleSpecs.Minimal() with { Target = "x", Platform = null };
        var f = SampleSpecs.Minimal() with { Target = null, Platform = "x" };

        Assert.NotEqual(BuildKey.Compute(a, Executor), BuildKey.Compute(b, Executor));
        Assert.NotEqual(BuildKey.Compute(c, Executor), BuildKey.Compute(d, Executor));
        Assert.NotEqual(BuildKey.Compute(e, Executor), BuildKey.Compute(f, Executor));
    }

    [Fact]
    public void Compute_NonAsciiValues_LengthIsUtf8Bytes()
    {
        var spec = SampleSpecs.Minimal() with { Labels = new Dictionary<string, string> { ["é"] = "ü" } };

        Assert.Contains("labels#1\n2:é2:ü\n", BuildKey.CanonicalForm(spec, Executor), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("context")]
    [InlineData("dockerfile")]
    [InlineData("destinations[0]")]
    public void Compute_InvalidSpec_ThrowsNamingField(string field)
    {
        var spec = field switch
        {
            "context" => SampleSpecs.Minimal() with { Context = "ftp://x/y" },
            "dockerfile" => SampleSpecs.Minimal() with { Dockerfile = "../Dockerfile" },
            _ => SampleSpecs.Minimal() with { Destinations = ["Not Valid"] },
        };

        var e = Assert.Throws<ArgumentException>(() => BuildKey.Compute(spec, Executor));

        Assert.StartsWith(field + ":", e.Message, StringComparison.Ordinal);
    }
}
