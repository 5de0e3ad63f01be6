using BuildFarm.Contracts;
using Deque.AxeCore.Playwright;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace BuildFarm.Web.Tests;

/// <summary>
/// The web page in a real headless chromium against the demo farm's API (docs/web.md): the batch graph follows the
/// simulator live, a failed node opens its build page, cancel works and is offered only to keys that may, another
/// tenant's key sees nothing, a big level folds and search finds an image in it, axe finds no serious or critical
/// violation, the page fits 375 px. Screenshots of the batch
/// page and of a failed build's page are written to <see cref="BrowserFixture.ScreenshotDirectory"/>.
/// </summary>
[Collection(WebFarmGroup.Name)]
[NeedsServer(Server.Chromium)]
public sealed class BrowserTests(WebFarmFixture farm, BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private const string Registry = "registry.example.com";

    /// <summary>Deadline of a wait for the farm to move (a slow build pushes for about 6 s).</summary>
    private static readonly LocatorAssertionsToHaveAttributeOptions FarmPace = new() { Timeout = 30_000 };

    [Fact]
    public async Task BatchPage_DrawsTheGraph_FollowsItLive_AndAFailedNodeOpensItsBuild()
    {
        var prefix = WebFarmFixture.Unique("live");
        var batch = await farm.Client.SubmitBatchAsync(new SubmitBatchRequest
        {
            Source = "acme/monorepo@web-test",
            Images =
            [
                Image("base", WebFarmFixture.SlowRegistry, prefix),
                Image("app", Registry, prefix, "base"),
                Image("tool", Registry, prefix),
                Image("broken", WebFarmFixture.FailingRegistry, prefix),
            ],
        });
        var ids = batch.Images.ToDictionary(i => i.Name, i => i.BuildId);
        var page = await browser.NewPageAsync();
        var problems = Watch(page);

        await OpenWithKeyAsync(page, $"ui/#/batches/{batch.BatchId}", farm.Farm.ApiKey);

        var nodes = page.Locator("svg.graph a[data-build]");
        await Expect(nodes).ToHaveCountAsync(4);
        var app = page.Locator($"svg.graph a[data-build='{ids["app"]}']");
        // app waits for base (about 6 s of push): the page shows it not ended yet, then ended, without a reload.
        var first = await app.GetAttributeAsync("data-state");
        Assert.Contains(first, new[] { "waiting", "queued", "running" });
        await page.EvaluateAsync("() => { window.notReloaded = true; }");
        await Expect(app).ToHaveAttributeAsync("data-state", "succeeded", FarmPace);
        await Expect(page.Locator($"svg.graph a[data-build='{ids["broken"]}']")).ToHaveAttributeAsync("data-state", "failed", FarmPace);
        await Expect(page.Locator($"svg.graph a[data-build='{ids["base"]}']")).ToHaveAttributeAsync("data-state", "succeeded", FarmPace);
        Assert.True(await page.EvaluateAsync<bool>("() => window.notReloaded === true"), "the page reloaded instead of following the stream");
        await Expect(page.Locator("#totals")).ToContainTextAsync("succeeded 3");
        await Expect(page.Locator("#totals")).ToContainTextAsync("failed 1");
        await Expect(page.Locator("#makespan")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("^makespan \\d"));
        // The graph's levels: base, tool and broken at level 0, app at level 1 (further right).
        var baseBox = await page.Locator($"svg.graph a[data-build='{ids["base"]}']").BoundingBoxAsync();
        var appBox = await app.BoundingBoxAsync();
        Assert.True(appBox!.X > baseBox!.X + baseBox.Width, "app (level 1) is not right of base (level 0)");
        // Each node's accessible name (its <title>): the image and its state in words, not only a colour.
        Assert.Equal($"app: succeeded · {(await farm.Client.GetBuildAsync(ids["app"])).Digest![7..19]}", await app.Locator("title").TextContentAsync());
        await AssertAccessibleAsync(page, "batch page");
        await ScreenshotAsync(page, "batch-page.png");

        // A failed node opens its build page: the reason, its explanation from docs/failure-reasons.md, the attempt's pod,
        // and the attempt's real Kaniko log from the log store (GET /v1/builds/{id}/logs).
        await page.Locator($"svg.graph a[data-build='{ids["broken"]}']").ClickAsync();
        await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex($"#/builds/{ids["broken"]}$"));
        var record = await farm.Client.GetBuildAsync(ids["broken"]);
        Assert.Equal(FailureReasons.Unauthorized, record.Reason);
        await Expect(page.Locator("#reason")).ToContainTextAsync("unauthorized");
        await Expect(page.Locator("#reason")).ToContainTextAsync("the registry refused the credentials");
        await Expect(page.Locator("#reason")).ToContainTextAsync("permanent");
        await Expect(page.Locator("#attempts")).ToContainTextAsync(record.Attempts[0].Pod!);
        // The pod's memory limit, as the worker reported it (docs/scheduling.md "Memory learned from history").
        await Expect(page.Locator("#attempts td.memory").First).ToHaveTextAsync(record.Attempts[0].MemoryLimit ?? throw new InvalidOperationException("the worker reported no memory limit"));
        await Expect(page.Locator("#log-note")).Not.ToBeEmptyAsync();
        await Expect(page.Locator("#log-note")).ToContainTextAsync("Attempt 1:");
        // Kaniko's own lines, in order: the push permission check that failed, and the exit.
        await Expect(page.Locator("#log")).ToContainTextAsync("UNAUTHORIZED");
        await Expect(page.Locator("#log")).ToContainTextAsync("error checking push permissions");
        await AssertAccessibleAsync(page, "failed build page");
        await ScreenshotAsync(page, "failed-build-page.png");
        Assert.Empty(problems);
    }

    [Fact]
    public async Task BuildPage_CancelIsOfferedToKeysThatMay_AndCancels()
    {
        var build = await farm.Client.SubmitBuildAsync(new SubmitBuildRequest
        {
            Spec = WebFarmFixture.Spec(WebFarmFixture.HoldRegistry, WebFarmFixture.Unique("hold")) with { DeadlineSeconds = WebFarmFixture.HoldDeadlineSeconds },
        });

        // A read-only key of the same tenant sees the build but no cancel button.
        var viewer = await browser.NewPageAsync();
        await OpenWithKeyAsync(viewer, $"ui/#/builds/{build.BuildId}", WebFarmFixture.ViewerKey);
        await Expect(viewer.Locator("#build dl.facts").First).ToContainTextAsync(build.BuildId);
        await Expect(viewer.Locator("#who-text")).ToHaveTextAsync("key may: read");
        await Expect(viewer.Locator("#cancel-build")).ToHaveCountAsync(0);

        var page = await browser.NewPageAsync();
        var problems = Watch(page);
        await OpenWithKeyAsync(page, $"ui/#/builds/{build.BuildId}", farm.Farm.ApiKey);
        await farm.WaitForStateAsync(build.BuildId, BuildState.Running);
        await page.Locator("#cancel-build").ClickAsync();

        await Expect(page.Locator("#build dl.facts .badge").First).ToHaveTextAsync("cancelled", new() { Timeout = 30_000 });
        await Expect(page.Locator("#cancel-build")).ToHaveCountAsync(0);
        Assert.Equal(BuildState.Cancelled, (await farm.WaitForStateAsync(build.BuildId, BuildState.Cancelled)).State);
        Assert.Empty(problems);
    }

    [Fact]
    public async Task KeyOfAnotherTenant_SeesNothing()
    {
        var batch = await farm.Client.SubmitBatchAsync(new SubmitBatchRequest { Images = [Image("solo", Registry, WebFarmFixture.Unique("tenant"))] });
        var page = await browser.NewPageAsync();

        await OpenWithKeyAsync(page, "ui/#/batches", WebFarmFixture.OtherKey);
        await Expect(page.Locator("#no-batches")).ToHaveTextAsync("No builds are visible to this key.");
        await Expect(page.Locator("main")).Not.ToContainTextAsync(batch.BatchId);

        await page.GotoAsync(new Uri(farm.Api, $"ui/#/batches/{batch.BatchId}").ToString());
        await Expect(page.Locator("main")).ToContainTextAsync("was not found");
        await page.GotoAsync(new Uri(farm.Api, $"ui/#/builds/{batch.Images[0].BuildId}").ToString());
        await Expect(page.Locator("main")).ToContainTextAsync("was not found");
        await Expect(page.Locator("#graph")).ToHaveCountAsync(0);
    }

    [Fact]
    public async Task LargeBatch_ABigLevelStartsCollapsed_SearchFindsAnImage_AndEnterExpandsIt()
    {
        var prefix = WebFarmFixture.Unique("big");
        var batch = await farm.Client.SubmitBatchAsync(new SubmitBatchRequest
        {
            Images = [.. Enumerable.Range(1, 60).Select(i => Image($"img-{i:D2}", Registry, prefix))],
        });
        var page = await browser.NewPageAsync();
        var problems = Watch(page);
        await OpenWithKeyAsync(page, $"ui/#/batches/{batch.BatchId}", farm.Farm.ApiKey);

        // 60 images on one level (more than 40): one summary node instead of 60, the table still lists them all.
        await Expect(page.Locator("svg.graph g.summary")).ToHaveCountAsync(1);
        await Expect(page.Locator("svg.graph a[data-build]")).ToHaveCountAsync(0);
        await Expect(page.Locator("#images tbody tr")).ToHaveCountAsync(60);

        // Searching opens the level holding a match and marks the match.
        await page.GetByLabel("Find an image").FillAsync("img-42");
        await Expect(page.Locator("svg.graph a[data-build]")).ToHaveCountAsync(60);
        await Expect(page.Locator("svg.graph g.node.hit")).ToHaveCountAsync(1);
        await Expect(page.Locator("svg.graph g.node.hit")).ToContainTextAsync("img-42");
        await Expect(page.Locator("#g-search-help")).ToHaveTextAsync("1 match(es)");

        // Without a search the level folds again; Enter on the summary (keyboard) unfolds it.
        await page.GetByLabel("Find an image").FillAsync("");
        await Expect(page.Locator("svg.graph g.summary")).ToHaveCountAsync(1);
        await page.Locator("svg.graph g.summary").FocusAsync();
        await page.Keyboard.PressAsync("Enter");
        await Expect(page.Locator("svg.graph a[data-build]")).ToHaveCountAsync(60);
        Assert.Empty(problems);
    }

    [Fact]
    public async Task NarrowScreen_PagesFitWithoutSideways()
    {
        var batch = await farm.Client.SubmitBatchAsync(new SubmitBatchRequest
        {
            Images = [Image("narrow-base", Registry, WebFarmFixture.Unique("narrow")), Image("narrow-app", Registry, WebFarmFixture.Unique("narrow"), "narrow-base")],
        });
        var page = await browser.NewPageAsync(width: 375, height: 740);

        await OpenWithKeyAsync(page, $"ui/#/batches/{batch.BatchId}", farm.Farm.ApiKey);
        await Expect(page.Locator("svg.graph a[data-build]")).ToHaveCountAsync(2);
        Assert.True(await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth"), "the batch page scrolls sideways at 375 px");
        await page.Locator("#images a").First.ClickAsync();
        await Expect(page.Locator("#build")).ToBeVisibleAsync();
        Assert.True(await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth"), "the build page scrolls sideways at 375 px");
        // Keyboard: after a load, the skip link is the first stop.
        await page.ReloadAsync();
        await Expect(page.Locator("#build")).ToBeVisibleAsync();
        await page.Keyboard.PressAsync("Tab");
        Assert.Equal("Skip to content", await page.EvaluateAsync<string>("() => document.activeElement.textContent"));
    }

    private async Task OpenWithKeyAsync(IPage page, string path, string key)
    {
        await page.GotoAsync(new Uri(farm.Api, path).ToString());
        await page.GetByLabel("API key").FillAsync(key);
        await page.GetByRole(AriaRole.Button, new() { Name = "Use this key" }).ClickAsync();
        await Expect(page.Locator("#who")).ToBeVisibleAsync();
    }

    /// <summary>Collects what must never happen on the page: uncaught errors and Content-Security-Policy violations.</summary>
    private static List<string> Watch(IPage page)
    {
        var problems = new List<string>();
        page.PageError += (_, error) => problems.Add($"page error: {error}");
        page.Console += (_, message) =>
        {
            if (message.Text.Contains("Content Security Policy", StringComparison.OrdinalIgnoreCase))
            {
                problems.Add($"CSP: {message.Text}");
            }
        };
        return problems;
    }

    private static async Task AssertAccessibleAsync(IPage page, string what)
    {
        var result = await page.RunAxe().WaitAsync(TimeSpan.FromSeconds(30));
        var serious = result.Violations.Where(v => v.Impact is "serious" or "critical")
            .Select(v => $"{v.Id} ({v.Impact}): {v.Help} at {string.Join(", ", v.Nodes.Take(3).Select(n => string.Join(" ", n.Target)))}")
            .ToList();
        Assert.True(serious.Count == 0, $"axe on the {what}:\n{string.Join("\n", serious)}");
    }

    private static async Task ScreenshotAsync(IPage page, string name)
    {
        Directory.CreateDirectory(BrowserFixture.ScreenshotDirectory);
        var path = Path.Combine(BrowserFixture.ScreenshotDirectory, name);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true, Timeout = 20_000 });
        Assert.True(new FileInfo(path).Length > 1000, $"{path} is empty");
    }

    private static BatchImageRequest Image(string name, string registry, string prefix, params string[] dependsOn) => new()
    {
        Name = name,
        Spec = WebFarmFixture.Spec(registry, $"{prefix}/{name}"),
        DependsOn = [.. dependsOn.Select(d => new BatchDependency(d))],
    };
}
