using BuildFarm.Contracts;
using BuildFarm.Kaniko.Specs;
using BuildFarm.Manifests.Model;
using BuildFarm.Manifests.Parsing;

namespace BuildFarm.Manifests.Tests;

public sealed class ManifestParserTests
{
    private const string Context = "git://github.com/acme/mono.git#main";

    private static ManifestError SingleError(string yaml)
    {
        var e = Assert.Throws<ManifestException>(() => ManifestParser.Parse(yaml, "test.yaml"));
        return Assert.Single(e.Errors);
    }

    private static IReadOnlyList<ManifestError> Errors(string yaml) =>
        Assert.Throws<ManifestException>(() => ManifestParser.Parse(yaml, "test.yaml")).Errors;

    [Fact]
    public void Parse_EveryField_ReachesTheSpec()
    {
        var manifest = ManifestParser.Parse($"""
            images:
              - name: api
                context: {Context}
                contextSubPath: services/api
                dockerfile: build/Dockerfile
                destinations: ["registry.example.com/acme/api:{"{short_sha}"}", "registry.example.com/acme/api:{"{date}"}"]
                buildArgs: {"{"} GO_VERSION: "1.23", EMPTY: "" {"}"}
                target: runtime
                platform: linux/arm64
                labels: {"{"} team: payments {"}"}
                cache: true
                cacheRepo: registry.example.com/acme/cache
                resources: {"{"} cpuRequest: 500m, memoryRequest: 1Gi, cpuLimit: "2", memoryLimit: 4Gi, ephemeralStorageLimit: 10Gi {"}"}
                deadlineSeconds: 900
                schedule: "30 2 * * 1"
              - name: worker
                destinations: registry.example.com/acme/worker:1
                context: {Context}
                dependsOn: [api]
            """);

        var api = manifest["api"];
        var spec = api.Spec;
        Assert.Equal(Context, spec.Context);
        Assert.Equal("services/api", spec.ContextSubPath);
        Assert.Equal("build/Dockerfile", spec.Dockerfile);
        Assert.Equal(["registry.example.com/acme/api:{short_sha}", "registry.example.com/acme/api:{date}"], spec.Destinations);
        Assert.Equal("1.23", spec.BuildArgs["GO_VERSION"]);
        Assert.Equal("", spec.BuildArgs["EMPTY"]);
        Assert.Equal("runtime", spec.Target);
        Assert.Equal("linux/arm64", spec.Platform);
        Assert.Equal("payments", spec.Labels["team"]);
        Assert.True(spec.Cache);
        Assert.Equal("registry.example.com/acme/cache", spec.CacheRepo);
        Assert.Equal(new BuildResources { CpuRequest = "500m", MemoryRequest = "1Gi", CpuLimit = "2", MemoryLimit = "4Gi", EphemeralStorageLimit = "10Gi" }, spec.Resources);
        Assert.Equal(900, spec.DeadlineSeconds);
        Assert.Equal("30 2 * * 1", api.Schedule);
        Assert.NotNull(api.ScheduleExpression);
        Assert.Equal(new ManifestLocation(2, 5), api.Location);
        Assert.Equal(new ManifestLocation(8, 13), api.LocationOf("target"));
        Assert.Equal(["registry.example.com/acme/worker:1"], manifest["worker"].Spec.Destinations);
        Assert.Equal([new ManifestDependency("api")], manifest["worker"].DependsOn);
        Assert.Equal("Dockerfile", manifest["worker"].Spec.Dockerfile);
        Assert.False(manifest["worker"].Spec.Cache);
    }

    [Fact]
    public void Parse_Defaults_ImageWinsAndMapsMergeKeyWise()
    {
        var manifest = ManifestParser.Parse($"""
            defaults:
              context: {Context}
              destinations: ["registry.example.com/acme/{"{name}"}:{"{sha}"}"]
              buildArgs: {"{"} A: from-defaults, B: from-defaults {"}"}
              labels: {"{"} team: core {"}"}
              resources: {"{"} cpuRequest: 500m, memoryLimit: 2Gi {"}"}
              platform: linux/amd64
              deadlineSeconds: 600
            images:
              - name: one
              - name: two
                platform: linux/arm64
                destinations: [registry.example.com/other/two:x]
                buildArgs: {"{"} B: from-image, C: from-image {"}"}
                resources: {"{"} memoryLimit: 8Gi {"}"}
            """);

        var one = manifest["one"].Spec;
        Assert.Equal(["registry.example.com/acme/{name}:{sha}"], one.Destinations);
        Assert.Equal("linux/amd64", one.Platform);
        Assert.Equal(600, one.DeadlineSeconds);
        var two = manifest["two"].Spec;
        Assert.Equal("linux/arm64", two.Platform);
        Assert.Equal(["registry.example.com/other/two:x"], two.Destinations);
        Assert.Equal(new Dictionary<string, string> { ["A"] = "from-defaults", ["B"] = "from-image", ["C"] = "from-image" }, two.BuildArgs);
        Assert.Equal("core", two.Labels["team"]);
        Assert.Equal("500m", two.Resources!.CpuRequest);
        Assert.Equal("8Gi", two.Resources.MemoryLimit);
        // A value taken from the defaults is located there.
        Assert.Equal(4, manifest["two"].LocationOf("buildArgs[A]").Line);
        Assert.Equal(14, manifest["two"].LocationOf("buildArgs[B]").Line);
    }

    [Fact]
    public void Parse_DependsOnForms_StringAndMapping()
    {
        var manifest = ManifestParser.Parse($"""
            defaults: {"{"} context: "{Context}", destinations: ["r.example.com/a/{"{name}"}:1"] {"}"}
            images:
              - name: base
              - name: lib
              - name: app
                dependsOn:
                  - {"{"} image: base, buildArg: BASE_IMAGE {"}"}
                  - lib
            """);

        Assert.Equal([new ManifestDependency("base", "BASE_IMAGE"), new ManifestDependency("lib")], manifest["app"].DependsOn);
    }

    [Theory]
    [InlineData("images: [\n  { name: a, context: \"git://h.example.com/r.git\", destinations: [r.example.com/a:1], dependson: [] }\n]", "dependson", 2, 87, "did you mean 'dependsOn'")]
    [InlineData("images:\n  - name: a\n    cache: maybe\n", "cache", 3, 12, "must be true or false, not 'maybe'")]
    [InlineData("images:\n  - name: a\n    deadlineSeconds: soon\n", "deadlineSeconds", 3, 22, "must be a whole number")]
    [InlineData("images:\n  - name: a\n    buildArgs: [A, B]\n", "buildArgs", 3, 16, "must be a mapping of names to values, not a list")]
    [InlineData("images:\n  - name: a\n    destinations: { a: b }\n", "destinations", 3, 19, "must be a list of strings, not a mapping")]
    [InlineData("images:\n  - name: a\n    target: [x]\n", "target", 3, 13, "must be a string, not a list")]
    [InlineData("images:\n  - name: a\n    resources: { cpu: 1 }\n", "resources.cpu", 3, 18, "unknown key")]
    [InlineData("images:\n  - name: a\n    buildArgs: { A: }\n", "buildArgs[A]", 3, 18, "value is null")]
    public void Parse_BadField_NamesImageFieldAndPosition(string yaml, string field, int line, int column, string message)
    {
        var error = Errors(yaml).First(e => e.Field == field);

        Assert.Equal("a", error.Image);
        Assert.Equal((line, column), (error.Line, error.Column));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_UnknownTopLevelKey_IsReportedWithItsLine()
    {
        var errors = Errors($"""
            defaults: {"{"} context: "{Context}" {"}"}
            image:
              - name: a
            """);

        Assert.Contains(errors, e => e.Field == "image" && e.Line == 2 && e.Message.Contains("unknown key", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Field == "images" && e.Message.Contains("is required", StringComparison.Ordinal));
    }

    [Fact]
    public void Parse_ImageOnlyKeyInDefaults_IsRejected()
    {
        var error = Errors("defaults:\n  schedule: \"0 3 * * *\"\nimages:\n  - name: a\n").First(e => e.Field == "defaults.schedule");

        Assert.Null(error.Image);
        Assert.Equal(2, error.Line);
        Assert.Contains("not allowed in defaults", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_InvalidYaml_ReportsThePosition()
    {
        var error = SingleError("images:\n  - name: a\n    buildArgs: { A: 1\n  - name: b\n");

        Assert.Equal("", error.Field);
        Assert.True(error.Line >= 3, $"line {error.Line}");
        Assert.Contains("not valid YAML", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_DuplicateYamlKey_IsAnError()
    {
        var errors = Errors($"images:\n  - name: a\n    context: {Context}\n    context: {Context}\n");

        Assert.Contains(errors, e => e.Line == 4 && e.Message.Contains("uplicate", StringComparison.Ordinal));
    }

    [Fact]
    public void Parse_DuplicateName_PointsAtBoth()
    {
        var error = SingleError($"""
            defaults: {"{"} context: "{Context}", destinations: ["r.example.com/a/{"{name}"}:1"] {"}"}
            images:
              - name: api
              - name: web
              - name: api
            """);

        Assert.Equal(("api", "name", 5, 11), (error.Image, error.Field, error.Line, error.Column));
        Assert.Contains("already defined at line 3", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Api")]
    [InlineData("api_")]
    [InlineData("a b")]
    public void Parse_BadName_IsRejected(string name)
    {
        var error = Errors($"images:\n  - name: \"{name}\"\n")[0];

        Assert.Equal(("images[0].name", 2, 11), (error.Field, error.Line, error.Column));
        Assert.Contains("not a valid image name", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_MissingName_IsRequired()
    {
        var error = Errors($"images:\n  - context: {Context}\n")[0];

        Assert.Equal(("images[0].name", 2, 5), (error.Field, error.Line, error.Column));
    }

    [Theory]
    [InlineData("registry.example.com/a:{commit}", "unknown placeholder {commit}")]
    [InlineData("registry.example.com/a:{sha", "not closed")]
    [InlineData("registry.example.com/a:sha}", "without a matching")]
    public void Parse_BadTemplate_NamesTheDestination(string destination, string message)
    {
        var error = SingleError($"images:\n  - name: a\n    context: {Context}\n    destinations:\n      - \"ok.example.com/a:1\"\n      - \"{destination}\"\n");

        Assert.Equal(("a", "destinations[1]", 6, 9), (error.Image, error.Field, error.Line, error.Column));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_BadTemplateInDefaults_IsLocatedInTheDefaults()
    {
        var errors = Errors($"defaults:\n  labels: {{ rev: \"{{revision}}\" }}\nimages:\n  - name: a\n    context: {Context}\n    destinations: [r.example.com/a:1]\n");

        var error = Assert.Single(errors);
        Assert.Equal(("a", "labels[rev]", 2, 18), (error.Image, error.Field, error.Line, error.Column));
    }

    [Fact]
    public void Parse_UnknownDependency_IsNamedWithItsLine()
    {
        var error = SingleError($"""
            defaults: {"{"} context: "{Context}", destinations: ["r.example.com/a/{"{name}"}:1"] {"}"}
            images:
              - name: base
              - name: app
                dependsOn:
                  - {"{"} image: bse, buildArg: BASE_IMAGE {"}"}
            """);

        Assert.Equal(("app", "dependsOn[0]", 6, 18), (error.Image, error.Field, error.Line, error.Column));
        Assert.Contains("unknown image 'bse'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_Cycle_NamesThePath()
    {
        var error = SingleError($"""
            defaults: {"{"} context: "{Context}", destinations: ["r.example.com/a/{"{name}"}:1"] {"}"}
            images:
              - name: a
                dependsOn: [c]
              - name: b
                dependsOn: [a]
              - name: c
                dependsOn: [b]
              - name: d
                dependsOn: [a]
            """);

        // Found from the first image in manifest order; reported at the entry that closes the cycle.
        Assert.Equal("dependency cycle: a -> c -> b -> a", error.Message);
        Assert.Equal(("b", "dependsOn[0]", 6, 17), (error.Image, error.Field, error.Line, error.Column));
    }

    [Fact]
    public void Parse_SelfDependency_IsACycle()
    {
        var error = SingleError($"images:\n  - name: a\n    context: {Context}\n    destinations: [r.example.com/a:1]\n    dependsOn: [a]\n");

        Assert.Equal("dependency cycle: a -> a", error.Message);
        Assert.Equal(5, error.Line);
    }

    [Theory]
    [InlineData("0 3 * *", "must have 5 fields")]
    [InlineData("0 3 * * * *", "must have 5 fields")]
    [InlineData("61 3 * * *", "not a valid cron expression")]
    [InlineData("0 3 * * MONDAY", "not a valid cron expression")]
    public void Parse_BadSchedule_IsRejected(string cron, string message)
    {
        var error = SingleError($"images:\n  - name: a\n    context: {Context}\n    destinations: [r.example.com/a:1]\n    schedule: \"{cron}\"\n");

        Assert.Equal(("a", "schedule", 5, 15), (error.Image, error.Field, error.Line, error.Column));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("@daily", 0)]
    [InlineData("15 */6 * * *", 15)]
    public void Parse_ValidSchedule_IsParsedAsUtcCron(string cron, int minute)
    {
        var manifest = ManifestParser.Parse($"images:\n  - name: a\n    context: {Context}\n    destinations: [r.example.com/a:1]\n    schedule: \"{cron}\"\n");

        var next = manifest["a"].ScheduleExpression!.GetNextOccurrence(new DateTimeOffset(2026, 11, 29, 1, 0, 0, TimeSpan.Zero), TimeZoneInfo.Utc);
        Assert.Equal(minute, next!.Value.Minute);
    }

    [Fact]
    public void Parse_DependencyBuildArgCollidingWithExplicitBuildArg_IsRejected()
    {
        var error = SingleError($"""
            defaults: {"{"} context: "{Context}", destinations: ["r.example.com/a/{"{name}"}:1"] {"}"}
            images:
              - name: base
              - name: app
                buildArgs:
                  BASE_IMAGE: debian:12
                dependsOn:
                  - {"{"} image: base, buildArg: BASE_IMAGE {"}"}
            """);

        Assert.Equal(("app", "dependsOn[0].buildArg", 8, 34), (error.Image, error.Field, error.Line, error.Column));
        Assert.Contains("also set in buildArgs at line 6", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_TwoDependenciesIntoOneBuildArg_IsRejected()
    {
        var errors = Errors($"""
            defaults: {"{"} context: "{Context}", destinations: ["r.example.com/a/{"{name}"}:1"] {"}"}
            images:
              - name: base
              - name: other
              - name: app
                dependsOn:
                  - {"{"} image: base, buildArg: BASE_IMAGE {"}"}
                  - {"{"} image: other, buildArg: BASE_IMAGE {"}"}
                  - base
                  - {"{"} buildArg: X {"}"}
            """);

        Assert.Contains(errors, e => e.Field == "dependsOn[1].buildArg" && e.Line == 8 && e.Message.Contains("already receives dependsOn[0]", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Field == "dependsOn[2]" && e.Line == 9 && e.Message.Contains("already listed", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Field == "dependsOn[3].image" && e.Line == 10 && e.Message.Contains("is required", StringComparison.Ordinal));
    }

    [Fact]
    public void Parse_SpecProblems_AreReportedByBuildSpecValidatorWithImageAndLine()
    {
        var errors = Errors("""
            images:
              - name: a
                context: ftp://example.com/ctx.tar.gz
                destinations:
                  - registry.example.com/Acme/a:1
                platform: Linux
                resources: { cpuRequest: "4", cpuLimit: "2" }
              - name: b
                context: git://github.com/acme/mono.git
            """);

        Assert.Contains(errors, e => (e.Image, e.Field, e.Line) == ("a", "context", 3) && e.Message.Contains("not supported", StringComparison.Ordinal));
        Assert.Contains(errors, e => (e.Image, e.Field, e.Line) == ("a", "destinations[0]", 5));
        Assert.Contains(errors, e => (e.Image, e.Field, e.Line) == ("a", "platform", 6));
        Assert.Contains(errors, e => (e.Image, e.Field, e.Line) == ("a", "resources.cpuRequest", 7));
        // No destination at all: located at the image's entry.
        Assert.Contains(errors, e => (e.Image, e.Field, e.Line) == ("b", "destinations", 8));
    }

    [Fact]
    public void Parse_AllowList_FromValidationOptionsIsApplied()
    {
        var yaml = $"images:\n  - name: a\n    context: {Context}\n    destinations: [evil.example.com/a:1]\n";
        var options = new BuildSpecValidationOptions { AllowedDestinations = ["registry.example.com/**"] };

        var e = Assert.Throws<ManifestException>(() => ManifestParser.Parse(yaml, "m", options));

        Assert.Contains(e.Errors, x => x.Field == "destinations[0]" && x.Message.Contains("allow-list", StringComparison.Ordinal));
    }

    [Fact]
    public void Parse_TwoImagesPushingTheSameTag_IsRejected()
    {
        var error = SingleError($"""
            defaults: {"{"} context: "{Context}" {"}"}
            images:
              - name: a
                destinations: ["r.example.com/x:{"{short_sha}"}"]
              - name: b
                destinations: ["r.example.com/x:{"{short_sha}"}"]
            """);

        Assert.Equal(("b", "destinations[0]", 6, 20), (error.Image, error.Field, error.Line, error.Column));
        Assert.Contains("also pushed by image 'a' (line 4", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", "the manifest is empty")]
    [InlineData("- a\n- b\n", "must be a mapping")]
    [InlineData("images: []\n", "the list is empty")]
    [InlineData("images: x\n", "must be a list of images")]
    public void Parse_BadShape_IsExplained(string yaml, string message)
    {
        var error = Errors(yaml)[0];

        Assert.Null(error.Image);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ManifestException_Message_ListsEveryErrorWithItsLine()
    {
        var e = Assert.Throws<ManifestException>(() => ManifestParser.Parse("images:\n  - name: a\n    cache: 2\n    target: [x]\n", "m.yaml"));

        Assert.StartsWith("m.yaml: ", e.Message, StringComparison.Ordinal);
        Assert.Contains("line 3, column 12: image 'a': cache: must be true or false, not '2'", e.Message, StringComparison.Ordinal);
        Assert.Contains("line 4, column 13: image 'a': target: must be a string, not a list", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MissingFile_IsAManifestError()
    {
        var e = Assert.Throws<ManifestException>(() => ManifestParser.Load(Path.Combine(Path.GetTempPath(), $"missing-{Guid.NewGuid():N}.yaml")));

        Assert.Contains("cannot read the manifest", Assert.Single(e.Errors).Message, StringComparison.Ordinal);
    }
}

public sealed class ManifestPlatformsTests
{
    private const string Context = "git://github.com/acme/mono.git#main";

    [Fact]
    public void Platforms_come_per_image_or_from_the_defaults_and_an_image_naming_either_field_takes_neither_default()
    {
        var manifest = ManifestParser.Parse($"""
            defaults:
              context: {Context}
              platforms: [linux/amd64, linux/arm64]
            images:
              - name: both
                contextSubPath: a
                destinations: registry.example.com/acme/both:1
              - name: one
                contextSubPath: b
                destinations: registry.example.com/acme/one:1
                platform: linux/arm64
              - name: three
                contextSubPath: c
                destinations: registry.example.com/acme/three:1
                platforms:
                  - linux/amd64
                  - linux/arm64/v8
                  - linux/arm/v7
            """, "test.yaml");
        var specs = manifest.Images.ToDictionary(i => i.Name, i => i.Spec);
        Assert.Equal(["linux/amd64", "linux/arm64"], specs["both"].Platforms);
        Assert.Null(specs["both"].Platform);
        Assert.Equal("linux/arm64", specs["one"].Platform);
        Assert.Null(specs["one"].Platforms);
        Assert.Equal(["linux/amd64", "linux/arm64/v8", "linux/arm/v7"], specs["three"].Platforms);
    }

    [Fact]
    public void Bad_platforms_are_reported_with_the_image_field_and_line()
    {
        var errors = Assert.Throws<ManifestException>(() => ManifestParser.Parse($"""
            images:
              - name: a
                context: {Context}
                destinations: registry.example.com/acme/a:1
                platforms: [linux/amd64, Linux/ARM64, linux/amd64]
              - name: b
                context: {Context}
                destinations: registry.example.com/acme/b:1
                platform: linux/amd64
                platforms: [linux/arm64]
            """, "test.yaml")).Errors;
        Assert.Contains(errors, e => (e.Image, e.Field, e.Line) == ("a", "platforms[1]", 5));
        Assert.Contains(errors, e => e.Image == "a" && e.Field == "platforms[2]" && e.Message.Contains("repeats", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Image == "b" && e.Field == "platforms" && e.Message.Contains("not both", StringComparison.Ordinal));
    }
}
