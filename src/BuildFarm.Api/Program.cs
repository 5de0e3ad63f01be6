using BuildFarm.Api.Hosting;
using BuildFarm.Messaging.Hosting;

// Settings (appsettings.json) are read from the program's directory wherever it is started from.
var builder = WebApplication.CreateBuilder(BuildFarmHost.WebOptions(args));
builder.AddBuildFarmApi();
var app = builder.Build();
app.MapBuildFarmApi();
return await BuildFarmHost.RunAsync(app, "buildfarm-api", ApiServiceCollectionExtensions.ConfigurationSettings);
