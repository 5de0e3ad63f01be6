using BuildFarm.Api.Hosting;

var builder = WebApplication.CreateBuilder(args);
builder.AddBuildFarmApi();
var app = builder.Build();
app.MapBuildFarmApi();
await app.RunAsync();
