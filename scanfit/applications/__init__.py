"""`keras.applications`: Keras's ImageNet models with their names, layers and weights (`VGG16`, `VGG19`,
`ResNet50`, `ResNet101`, `ResNet152`, `Xception`, `MobileNetV2`, `InceptionV3`, `DenseNet121`, `DenseNet169`,
`DenseNet201`), each module with its `preprocess_input` and `decode_predictions`."""
from scanfit.applications import (
    densenet,
    imagenet_utils,
    inception_v3,
    mobilenet_v2,
    resnet,
    resnet50,
    vgg16,
    vgg19,
    xception,
)
from scanfit.applications.densenet import DenseNet121, DenseNet169, DenseNet201
from scanfit.applications.inception_v3 import InceptionV3
from scanfit.applications.mobilenet_v2 import MobileNetV2
from scanfit.applications.resnet import ResNet50, ResNet101, ResNet152
from scanfit.applications.vgg import VGG16, VGG19
from scanfit.applications.xception import Xception

__all__ = ["DenseNet121", "DenseNet169", "DenseNet201", "InceptionV3", "MobileNetV2", "ResNet101", "ResNet152",
           "ResNet50", "VGG16", "VGG19", "Xception", "densenet", "imagenet_utils", "inception_v3", "mobilenet_v2",
           "resnet", "resnet50", "vgg16", "vgg19", "xception"]
