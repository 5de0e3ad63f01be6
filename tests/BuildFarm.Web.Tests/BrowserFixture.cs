using Microsoft.Playwright;

namespace BuildFarm.Web.Tests;

/// <summary>
/// Debian's chromium (<c>BUILDFARM_TEST_CHROMIUM</c>) driven by Playwright: headless, <c>--no-sandbox</c> (the tests run as
/// root in CI), never a downloaded browser. Started once for the browser tests; every step has a deadline.
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    /// <summary>The longest any one Playwright action or wait may take.</summary>
    public const float ActionTimeoutMs = 20_000;

    private IPlaywright? _playwright;
    private IBrowser? _browser;

    public IBrowser Browser => _browser ?? throw new InvalidOperationException(
        TestEnvironment.Missing(Server.Chromium) ?? "the browser did not start");

    /// <summary>Where screenshots go: <c>BUILDFARM_TEST_SCREENSHOTS</c> (./test.sh: .test-run/results/screenshots) or
    /// <c>screenshots</c> beside the test binaries.</summary>
    public static string ScreenshotDirectory
    {
        get
        {
            var dir = Environment.GetEnvironmentVariable("BUILDFARM_TEST_SCREENSHOTS");
            return string.IsNullOrWhiteSpace(dir) ? Path.Combine(AppContext.BaseDirectory, "screenshots") : dir;
        }
    }

    public async Task InitializeAsync()
    {
        if (TestEnvironment.Missing(Server.Chromium) is not null)
        {
            return; // the tests are skipped (locally) or fail naming the variable (CI)
        }
        _playwright = await Playwright.CreateAsync().WaitAsync(TimeSpan.FromSeconds(30));
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = TestEnvironment.Chromium,
            Headless = true,
            Args = ["--no-sandbox"],
            Timeout = 30_000,
        }).WaitAsync(TimeSpan.FromSeconds(40));
    }

    /// <summary>A fresh context (its own sessionStorage) and page, <paramref name="width"/> CSS pixels wide.</summary>
    public async Task<IPage> NewPageAsync(int width = 1280, int height = 900)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = width, Height = height } })
            .WaitAsync(TimeSpan.FromSeconds(30));
        context.SetDefaultTimeout(ActionTimeoutMs);
        context.SetDefaultNavigationTimeout(ActionTimeoutMs);
        return await context.NewPageAsync().WaitAsync(TimeSpan.FromSeconds(30));
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.CloseAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
        _playwright?.Dispose();
    }
}
