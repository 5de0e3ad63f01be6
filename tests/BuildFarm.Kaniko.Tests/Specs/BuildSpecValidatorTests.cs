using BuildFarm.Contracts;
using BuildFarm.Kaniko.Specs;

namespace BuildFarm.Kaniko.Tests.Specs;

public sealed class BuildSpecValidatorTests
{
    [Theory]
    [InlineData("git://github.com/acme/app.git")]
    [InlineData("git://github.com/acme/app.git#refs/heads/main")]
    [InlineData("git://github.com/acme/app.git#refs/heads/main#0123456789abcdef0123456789abcdef01234567")]
    [InlineData("https://artifacts.example.com/ctx/app.tar.gz")]
    [InlineData("https://artifacts.example.com/ctx/app.tgz?X-Amz-Signature=abc")]
    [InlineData("s3://ctx-bucket/builds/app.tar.gz")]
    [InlineData("gs://ctx-bucket/builds/app.tar.gz")]
    [InlineData("dir:///workspace/app")]
    public void Validate_GoodContext_NoErrors(string context)
    {
        var result = BuildSpecValidator.Validate(SampleSpecs.Minimal() with { Context = context });

        Assert.True(result.IsValid, string.Join("; ", result.Errors));
    }

    [Fact]
    public void Validate_FullSpec_NoErrorsNoWarnings()
    {
        var result = BuildSpecValidator.Validate(SampleSpecs.Full());

        Assert.Empty(result.Errors);
        Assert.Empty(result.Warnings);
    }

    public static TheoryData<string, Func<BuildSpec, BuildSpec>, string, string> Rejections => new()
    {
        // name, change, field, fragment of the message
        { "http context", s => s with { Context = "http://example.com/ctx.tar.gz" }, "context", BuildContext.AllowedForms },
        { "ftp context", s => s with { Context = "ftp://example.com/ctx.tar.gz" }, "context", "'ftp://' is not supported" },
        { "tar context", s => s with { Context = "tar:///ctx.tar.gz" }, "context", "not supported" },
        { "bare path context", s => s with { Context = "/workspace" }, "context", "no scheme" },
        { "empty context", s => s with { Context = "" }, "context", "required" },
        { "https zip", s => s with { Context = "https://example.com/ctx.zip" }, "context", ".tar.gz or .tgz" },
        { "https with credentials", s => s with { Context = "https://u:p@example.com/ctx.tar.gz" }, "context", "credentials" },
        { "s3 bad bucket", s => s with { Context = "s3://Bad_Bucket/ctx.tar.gz" }, "context", "bucket" },
        { "s3 no key", s => s with { Context = "s3://ctx-bucket" }, "context", "must name an object" },
        { "gs folder", s => s with { Context = "gs://ctx-bucket/dir/" }, "context", "must name an object" },
        { "dir relative", s => s with { Context = "dir://workspace" }, "context", "absolute" },
        { "dir escape", s => s with { Context = "dir:///a/../../etc" }, "context", "climbs out" },
        { "git no path", s => s with { Context = "git://github.com" }, "context", "host and a repository path" },
        { "git bad commit", s => s with { Context = "git://github.com/a/b.git#main#xyz" }, "context", "commit" },
        { "no destinations", s => s with { Destinations = [] }, "destinations", "at least one" },
        { "bad second destination", s => s with { Destinations = ["registry.example.com/team/app:1", "Bad Ref"] }, "destinations[1]", "not a valid image reference" },
        { "digest destination", s => s with { Destinations = ["registry.example.com/team/app@sha256:" + new string('a', 64)] }, "destinations[0]", "has a digest" },
        { "too many destinations", s => s with { Destinations = [.. Enumerable.Range(0, 17).Select(i => $"registry.example.com/team/app:{i}")] }, "destinations", "limit of 16" },
        { "absolute dockerfile", s => s with { Dockerfile = "/abs/Dockerfile" }, "dockerfile", "absolute" },
        { "escaping dockerfile", s => s with { Dockerfile = "../Dockerfile" }, "dockerfile", "climbs out" },
        { "deep escaping dockerfile", s => s with { Dockerfile = "a/../../Dockerfile" }, "dockerfile", "climbs out" },
        { "url dockerfile", s => s with { Dockerfile = "https://example.com/Dockerfile" }, "dockerfile", "URL" },
        { "backslash dockerfile", s => s with { Dockerfile = "docker\\Dockerfile" }, "dockerfile", "backslash" },
        { "root dockerfile", s => s with { Dockerfile = "./" }, "dockerfile", "context root" },
        { "empty dockerfile", s => s with { Dockerfile = "" }, "dockerfile", "required" },
        { "escaping sub-path", s => s with { ContextSubPath = "../other" }, "contextSubPath", "climbs out" },
        { "absolute sub-path", s => s with { ContextSubPath = "/abs" }, "contextSubPath", "absolute" },
        { "build arg digit", s => s with { BuildArgs = new Dictionary<string, string> { ["1BAD"] = "x" } }, "buildArgs[1BAD]", "name '1BAD' is invalid" },
        { "build arg dash", s => s with { BuildArgs = new Dictionary<string, string> { ["A-B"] = "x" } }, "buildArgs[A-B]", "invalid" },
        { "build arg too big", s => s with { BuildArgs = new Dictionary<string, string> { ["BIG"] = new string('x', 4097) } }, "buildArgs[BIG]", "4097 bytes" },
        { "build arg multibyte too big", s => s with { BuildArgs = new Dictionary<string, string> { ["BIG"] = new string('é', 2049) } }, "buildArgs[BIG]", "4098 bytes" },
        { "build arg NUL", s => s with { BuildArgs = new Dictionary<string, string> { ["NUL"] = "a\0b" } }, "buildArgs[NUL]", "NUL" },
        { "build arg name too long", s => s with { BuildArgs = new Dictionary<string, string> { [new string('A', 257)] = "x" } }, "buildArgs[" + new string('A', 64) + "…]", "1-256" },
        { "label key too long", s => s with { Labels = new Dictionary<string, string> { [new string('a', 300)] = "x" } }, "labels[" + new string('a', 64) + "…]", "1-256" },
        { "too many build args", s => s with { BuildArgs = Enumerable.Range(0, 65).ToDictionary(i => $"A{i}", _ => "v") }, "buildArgs", "limit of 64" },
        { "label with =", s => s with { Labels = new Dictionary<string, string> { ["a=b"] = "x" } }, "labels[a=b]", "key 'a=b' is invalid" },
        { "label too big", s => s with { Labels = new Dictionary<string, string> { ["k"] = new string('x', 5000) } }, "labels[k]", "5000 bytes" },
        { "target digit", s => s with { Target = "1stage" }, "target", "stage name" },
        { "target space", s => s with { Target = "my stage" }, "target", "stage name" },
        { "platform no arch", s => s with { Platform = "linux" }, "platform", "os/arch" },
        { "platform upper", s => s with { Platform = "Linux/amd64" }, "platform", "os/arch" },
        { "platform too deep", s => s with { Platform = "linux/arm64/v8/x" }, "platform", "os/arch" },
        { "cache repo tag", s => s with { CacheRepo = "registry.example.com/team/cache:t" }, "cacheRepo", "without tag" },
        { "cache repo invalid", s => s with { CacheRepo = "Not A Repo" }, "cacheRepo", "not a valid repository" },
        { "deadline zero", s => s with { DeadlineSeconds = 0 }, "deadlineSeconds", "positive" },
        { "deadline negative", s => s with { DeadlineSeconds = -5 }, "deadlineSeconds", "positive" },
        { "deadline too long", s => s with { DeadlineSeconds = 6 * 3600 + 1 }, "deadlineSeconds", "maximum of 21600" },
        { "cpu not a quantity", s => s with { Resources = new BuildResources { CpuRequest = "lots" } }, "resources.cpuRequest", "not a Kubernetes quantity" },
        { "memory negative", s => s with { Resources = new BuildResources { MemoryLimit = "-1Gi" } }, "resources.memoryLimit", "not a Kubernetes quantity" },
        { "memory zero", s => s with { Resources = new BuildResources { MemoryLimit = "0" } }, "resources.memoryLimit", "positive" },
        { "storage bad suffix", s => s with { Resources = new BuildResources { EphemeralStorageLimit = "10GB" } }, "resources.ephemeralStorageLimit", "quantity" },
        { "request over limit", s => s with { Resources = new BuildResources { CpuRequest = "2", CpuLimit = "1500m" } }, "resources.cpuRequest", "exceeds cpuLimit" },
        { "memory request over limit", s => s with { Resources = new BuildResources { MemoryRequest = "2Gi", MemoryLimit = "1Gi" } }, "resources.memoryRequest", "exceeds memoryLimit" },
    };

    [Theory]
    [MemberData(nameof(Rejections))]
    public void Validate_BadField_ErrorNamesField(string name, Func<BuildSpec, BuildSpec> change, string field, string fragment)
    {
        var result = BuildSpecValidator.Validate(change(SampleSpecs.Full()));

        Assert.False(result.IsValid, name);
        var error = Assert.Single(result.Errors);
        Assert.Equal(field, error.Field);
        Assert.Contains(fragment, error.Message, StringComparison.Ordinal);
        Assert.StartsWith(field + ": ", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_SeveralBadFields_ReportsEveryOne()
    {
        var spec = SampleSpecs.Full() with { Context = "ftp://x/y", Dockerfile = "/abs", Destinations = [], Platform = "x" };

        var fields = BuildSpecValidator.Validate(spec).Errors.Select(e => e.Field).ToList();

        Assert.Equal(["context", "dockerfile", "destinations", "platform"], fields);
    }

    [Theory]
    [InlineData("registry.example.com/team/app", true)]
    [InlineData("registry.example.com/team/sub/app", false)]
    [InlineData("registry.example.com/other/app", false)]
    [InlineData("evil.example.com/team/app", false)]
    public void Validate_AllowListSingleStar_MatchesOneComponent(string repository, bool allowed)
    {
        var options = new BuildSpecValidationOptions { AllowedDestinations = ["registry.example.com/team/*"] };
        var spec = SampleSpecs.Minimal() with { Destinations = [repository + ":1"] };

        var result = BuildSpecValidator.Validate(spec, options);

        Assert.Equal(allowed, result.IsValid);
        if (!allowed)
        {
            var error = Assert.Single(result.Errors);
            Assert.Equal("destinations[0]", error.Field);
            Assert.Contains("allow-list", error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Validate_AllowListDoubleStar_MatchesAcrossComponents()
    {
        var options = new BuildSpecValidationOptions { AllowedDestinations = ["registry.example.com/team/**"] };
        var spec = SampleSpecs.Minimal() with { Destinations = ["registry.example.com/team/sub/app:1"] };

        Assert.True(BuildSpecValidator.Validate(spec, options).IsValid);
    }

    [Fact]
    public void Validate_AllowListMatchesNormalisedDockerHubName()
    {
        var options = new BuildSpecValidationOptions { AllowedDestinations = ["docker.io/acme/*"] };

        Assert.True(BuildSpecValidator.Validate(SampleSpecs.Minimal() with { Destinations = ["acme/app:1"] }, options).IsValid);
        Assert.False(BuildSpecValidator.Validate(SampleSpecs.Minimal() with { Destinations = ["app:1"] }, options).IsValid);
    }

    [Theory]
    [InlineData("registry.example.com/team/app:1", true)]
    [InlineData("REGISTRY.example.com/team/app", true)]
    [InlineData("registry.example.com/other/app", false)]
    public void IsAllowedDestination_MatchesNormalisedName(string reference, bool allowed) =>
        Assert.Equal(allowed, BuildSpecValidator.IsAllowedDestination(ImageReference.Parse(reference), ["registry.example.com/team/*"]));

    [Fact]
    public void IsAllowedDestination_EmptyList_AllowsAll() =>
        Assert.True(BuildSpecValidator.IsAllowedDestination(ImageReference.Parse("anything.example.org/x"), []));

    [Fact]
    public void Validate_EmptyAllowList_AllowsEveryRegistry()
    {
        var spec = SampleSpecs.Minimal() with { Destinations = ["anywhere.example.org/x/y:1", "alpine:1"] };

        Assert.True(BuildSpecValidator.Validate(spec, new BuildSpecValidationOptions()).IsValid);
    }

    [Fact]
    public void Validate_CacheRepoOutsideAllowList_Rejected()
    {
        var options = new BuildSpecValidationOptions { AllowedDestinations = ["registry.example.com/team/*"] };
        var spec = SampleSpecs.Full() with { CacheRepo = "other.example.com/cache" };

        var error = Assert.Single(BuildSpecValidator.Validate(spec, options).Errors);

        Assert.Equal("cacheRepo", error.Field);
    }

    [Fact]
    public void Validate_BlankAllowListPattern_Rejected()
    {
        var options = new BuildSpecValidationOptions { AllowedDestinations = ["registry.example.com/team/*", " "] };

        var error = Assert.Single(BuildSpecValidator.Validate(SampleSpecs.Minimal(), options).Errors);

        Assert.Equal("allowedDestinations[1]", error.Field);
    }

    [Fact]
    public void Validate_GitContext_WarnsAboutPrivateRepositories()
    {
        var result = BuildSpecValidator.Validate(SampleSpecs.Minimal() with { Context = "git://github.com/acme/app.git" });

        Assert.True(result.IsValid);
        var warning = Assert.Single(result.Warnings);
        Assert.Equal("context", warning.Field);
        Assert.Contains("private repositories may not work", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_CacheRepoWithoutCache_Warns()
    {
        var result = BuildSpecValidator.Validate(SampleSpecs.Full() with { Cache = false });

        Assert.True(result.IsValid);
        Assert.Equal("cacheRepo", Assert.Single(result.Warnings).Field);
    }

    [Fact]
    public void Validate_RepeatedDestination_WarnsOnNormalisedDuplicate()
    {
        var result = BuildSpecValidator.Validate(SampleSpecs.Minimal() with { Destinations = ["alpine:1", "docker.io/library/alpine:1"] });

        Assert.True(result.IsValid);
        Assert.Equal("destinations[1]", Assert.Single(result.Warnings).Field);
    }

    [Fact]
    public void Validate_S3KeyNotTarball_Warns()
    {
        var result = BuildSpecValidator.Validate(SampleSpecs.Minimal() with { Context = "s3://ctx-bucket/builds/app.zip" });

        Assert.True(result.IsValid);
        Assert.Contains("gzipped tar", Assert.Single(result.Warnings).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("linux/amd64")]
    [InlineData("linux/arm64/v8")]
    [InlineData("windows/amd64")]
    public void Validate_GoodPlatform_Accepted(string platform) =>
        Assert.True(BuildSpecValidator.Validate(SampleSpecs.Minimal() with { Platform = platform }).IsValid);

    [Theory]
    [InlineData("500m")]
    [InlineData("2")]
    [InlineData("1.5")]
    [InlineData("512Mi")]
    [InlineData("4Gi")]
    [InlineData("1e3")]
    public void TryParseQuantity_KubernetesQuantities_Accepted(string quantity) =>
        Assert.True(BuildSpecValidator.TryParseQuantity(quantity, out var amount, out _) && amount > 0);
}

public sealed class PlatformValidationTests
{
    private static IReadOnlyList<SpecProblem> Errors(BuildSpec spec, BuildSpecValidationOptions? options = null) =>
        BuildSpecValidator.Validate(spec, options).Errors;

    [Fact]
    public void Several_well_formed_platforms_validate()
    {
        Assert.Empty(Errors(SampleSpecs.Minimal() with { Platforms = ["linux/amd64", "linux/arm64", "linux/arm/v7"] }));
        Assert.Empty(Errors(SampleSpecs.Minimal() with { Platforms = [] }));
    }

    [Fact]
    public void Duplicates_bad_forms_and_both_fields_are_refused_naming_the_entry()
    {
        var errors = Errors(SampleSpecs.Minimal() with { Platform = "linux/amd64", Platforms = ["linux/amd64", "Linux/arm64", "linux/amd64", "linux/" + new string('a', 70)] });
        Assert.Contains(errors, e => e.Field == "platforms" && e.Message.Contains("not both", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Field == "platforms[1]" && e.Message.Contains("os/arch", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Field == "platforms[2]" && e.Message.Contains("repeats", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Field == "platforms[3]" && e.Message.Contains('…', StringComparison.Ordinal));
    }

    [Fact]
    public void More_platforms_than_the_limit_are_refused()
    {
        var spec = SampleSpecs.Minimal() with { Platforms = ["linux/amd64", "linux/arm64", "linux/s390x"] };
        var error = Assert.Single(Errors(spec, new BuildSpecValidationOptions { MaxPlatforms = 2 }));
        Assert.Equal("platforms", error.Field);
        Assert.Contains("limit of 2", error.Message, StringComparison.Ordinal);
        Assert.Equal(8, BuildSpecValidationOptions.Default.MaxPlatforms);
    }

    [Fact]
    public void A_single_platform_over_the_length_bound_is_refused() =>
        Assert.Equal("platform", Assert.Single(Errors(SampleSpecs.Minimal() with { Platform = "linux/" + new string('a', 100) })).Field);
}
