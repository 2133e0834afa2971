using System.Text;
using System.Text.Json;
using TrapReplace.Data;
using TrapReplace.Models;
using TrapReplace.Persistence;
using static TorchSharp.torch;

namespace TrapReplace.Core.Tests.Persistence;

public sealed class ModelFileTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("model-file").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public void A_saved_defended_network_loads_and_predicts_identically()
    {
        var backbone = new WideResNet16Backbone(10);
        using var network = ModelSeed.Build(4, () => new TrapNetwork(backbone.CreateStem(), backbone.CreateHead(), null));
        network.eval();
        var path = Path.Combine(directory, "defended.bin");

        ModelFile.Save(network, path);
        using var loaded = ModelFile.Load(backbone, path);

        using var scope = NewDisposeScope();
        var x = rand(3, 3, 32, 32);
        loaded.ReconstructionHead.Should().BeNull();
        loaded.call(x).allclose(network.call(x), 0, 0).Should().BeTrue();
    }

    [Fact]
    public void A_trapped_network_keeps_its_decoder_and_a_mismatched_backbone_is_a_clear_error()
    {
        var backbone = new WideResNet16Backbone(10);
        using var network = new TrapNetwork(backbone.CreateStem(), backbone.CreateHead(), backbone.CreateReconstructionHead());
        var path = Path.Combine(directory, "trapped.bin");
        ModelFile.Save(network, path);

        using var loaded = ModelFile.Load(backbone, path);
        loaded.ReconstructionHead.Should().NotBeNull();

        var act = () => ModelFile.Load(new WideResNet16Backbone(43), path);
        act.Should().Throw<ModelFormatException>().WithMessage("*wrn-16-1*43 classes*");
    }

    [Fact]
    public void Safetensors_export_has_a_valid_header_and_the_exact_bytes()
    {
        var backbone = new WideResNet16Backbone(10);
        using var network = new TrapNetwork(backbone.CreateStem(), backbone.CreateHead(), null);
        var path = Path.Combine(directory, "model.safetensors");

        ModelFile.ExportSafetensors(network, path, new Dictionary<string, string> { ["backbone"] = "wrn-16-1" });

        var bytes = File.ReadAllBytes(path);
        var headerLength = (long)BitConverter.ToUInt64(bytes, 0);
        headerLength.Should().BeGreaterThan(0);
        (headerLength % 8).Should().Be(0);
        using var header = JsonDocument.Parse(Encoding.UTF8.GetString(bytes, 8, (int)headerLength));
        header.RootElement.GetProperty("__metadata__").GetProperty("backbone").GetString().Should().Be("wrn-16-1");
        var fc = header.RootElement.GetProperty("head.fc.weight");
        fc.GetProperty("dtype").GetString().Should().Be("F32");
        fc.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).Should().Equal(10L, 64L);
        var offsets = fc.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        (offsets[1] - offsets[0]).Should().Be(10 * 64 * 4);
        var stored = new float[640];
        Buffer.BlockCopy(bytes, (int)(8 + headerLength + offsets[0]), stored, 0, 640 * 4);
        stored.Should().Equal(network.state_dict()["head.fc.weight"].data<float>().ToArray());
        header.RootElement.GetProperty("stem.blocks.0.bn1.num_batches_tracked").GetProperty("dtype").GetString().Should().Be("I64");
    }
}
